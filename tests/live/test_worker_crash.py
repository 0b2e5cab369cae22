"""A real task worker (huey's consumer, `manage.py run_huey`) SIGKILLed in the middle of a
drain batch: the batch rolls back, and the restarted worker resumes the drain (its start-up
sweep) until the queue is empty: every contact assigned once, oldest first, loads exact."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crm.models import AssignmentVia, Contact, Operator
from tests.factories import ContactFactory, OperatorFactory, OperatorSourceFactory
from tests.invariants import assert_routing_invariants
from tests.live import server

pytestmark = pytest.mark.django_db(transaction=True)


@contextlib.contextmanager
def task_worker(tmp_path: Path, **extra_env: str):
    """`manage.py run_huey` (one worker thread) on the test database, its queue in a SQLite
    file of this test's own; killed with its process group when the block ends."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.live.worker_settings",
        "DATABASE_URL": server.test_database_url(),
        "DB_CONN_MAX_AGE": "0",
        "TASKS_REDIS_URL": "",
        "REDIS_URL": "",
        "TASKS_SQLITE_PATH": str(tmp_path / "tasks.sqlite3"),
        # One worker thread, shared with the webhook tasks the worker starts: each is short
        # and hands the thread back (crm.tasks), so the drains get their turns.
        "QUEUE_DRAIN_BATCH": "10",
        **extra_env,
    }
    with open(tmp_path / "worker.log", "a") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "run_huey", "--workers", "1", "--worker-type", "thread"],
            cwd=server.ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def wait_until(condition, *, what: str, limit: float = 90.0) -> None:
    """Poll for an event (not a timing: the limit only stops a broken run)."""
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        time.sleep(0.05)


def test_worker_killed_mid_batch_loses_nothing_and_the_restarted_worker_finishes(tmp_path):
    op = OperatorFactory(max_load=50)
    link = OperatorSourceFactory(operator=op)
    ids = [ContactFactory(source=link.source).pk for _ in range(30)]
    frozen = tmp_path / "frozen"

    def assigned() -> list[int]:
        return sorted(Contact.objects.filter(operator=op).values_list("id", flat=True))

    # The worker's start-up sweep finds the backlog: a batch of 10 commits, then the second
    # batch freezes after its 4th assignment, its transaction open.
    with task_worker(tmp_path, WORKER_FREEZE_AFTER_TAKES="14", WORKER_FROZEN_FILE=str(frozen)) as worker:
        wait_until(frozen.exists, what="the worker reaching the middle of its second batch")
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)

    # The first batch stayed, the interrupted one rolled back whole: no half batch, no load drift.
    assert assigned() == ids[:10]
    assert Operator.objects.get(pk=op.pk).open_load == 10
    assert list(Contact.objects.waiting().order_by("id").values_list("id", flat=True)) == ids[10:]
    assert_routing_invariants(caught_up=False, timeline=False)

    # Nothing was enqueued by hand: the restarted worker's start-up sweep resumes the drain.
    with task_worker(tmp_path):
        wait_until(lambda: not Contact.objects.waiting().exists(), what="the restarted worker draining the queue")

    assert assigned() == ids
    assert Operator.objects.get(pk=op.pk).open_load == 30
    assert set(Contact.objects.filter(pk__in=ids).values_list("assignment__via", flat=True)) == {AssignmentVia.QUEUE}
    assert_routing_invariants(timeline=False)
