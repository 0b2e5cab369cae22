"""Crash test: clients register contacts with idempotency keys against gunicorn while its
workers are killed with SIGKILL mid-run; every failed request is retried with the same key.
Afterwards every key has exactly one contact, no operator is over max_load and the stored
loads agree with a recount. PostgreSQL only (CI: `-m crash`)."""

import json
import os
import random
import signal
import threading
import time
import urllib.error
import urllib.request

import pytest
from django.db import connection

from crm.models import Contact, IdempotencyKey, Operator
from crm.selectors import operator_load_mismatches
from crm.services.accounts import bot_create
from tests.factories import OperatorFactory, OperatorSourceFactory, SourceFactory
from tests.live.server import gunicorn_server

pytestmark = [pytest.mark.crash, pytest.mark.django_db(transaction=True)]

KEYS = int(os.environ.get("CRASH_KEYS", "400"))
CLIENTS = 8  # client threads; they hold no database connection (the 3 workers do)
WORKERS = 3
KILLS = 3
MAX_ATTEMPTS = 20


def test_sigkilled_workers_lose_and_duplicate_nothing(tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("crash test needs PostgreSQL (set DATABASE_URL): SQLite has no concurrent server writers")
    source = SourceFactory()
    for max_load in (60, 80, 100):  # 240 places for 400 keys: capacity runs out mid-run
        OperatorSourceFactory(operator=OperatorFactory(max_load=max_load), source=source, weight=10)
    _, token = bot_create(name="crash_bot")
    keys = [f"crash-{i:04d}" for i in range(KEYS)]
    stats = {"requests": 0, "failed": 0, "retries": 0, "replayed": 0, "kills": 0, "server_errors": 0}
    final: dict[str, dict] = {}
    lock = threading.Lock()
    done = threading.Event()

    with gunicorn_server(tmp_path=tmp_path, workers=WORKERS, timeout=30) as server:

        def post(key: str) -> tuple[int, dict, bool]:
            body = json.dumps({"external_id": f"lead-{key}", "source_id": source.pk}).encode()
            request = urllib.request.Request(
                f"{server.url}/api/v1/contacts/",
                data=body,
                method="POST",
                headers={
                    "Authorization": f"Token {token}",
                    "Content-Type": "application/json",
                    "Idempotency-Key": key,
                },
            )
            with urllib.request.urlopen(request, timeout=30) as response:
                return (
                    response.status,
                    json.loads(response.read()),
                    response.headers.get("Idempotent-Replayed") == "true",
                )

        def client(my_keys: list[str]) -> None:
            rng = random.Random(my_keys[0])
            for key in my_keys:
                for attempt in range(MAX_ATTEMPTS):
                    with lock:
                        stats["requests"] += 1
                        stats["retries"] += attempt > 0
                    try:
                        status, body, replayed = post(key)
                    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
                        # A killed worker drops the connection (reset, empty reply); it cannot
                        # answer. An HTTP status is the application's own answer: a 4xx fails the
                        # test at once, a 5xx is counted and must stay at zero (asserted below).
                        if isinstance(exc, urllib.error.HTTPError):
                            if exc.code < 500:
                                raise
                            with lock:
                                stats["server_errors"] += 1
                        with lock:
                            stats["failed"] += 1
                        time.sleep(0.05 + rng.random() * 0.1)
                        continue
                    assert status == 201, (key, status, body)
                    with lock:
                        final[key] = body
                        stats["replayed"] += replayed
                    break
                else:
                    raise AssertionError(f"{key}: no success after {MAX_ATTEMPTS} attempts")

        def killer() -> None:
            # Kill a busy worker each time another share of the keys is through.
            for k in range(KILLS):
                target = (k + 1) * KEYS // (KILLS + 2)
                while len(final) < target and not done.is_set():
                    time.sleep(0.005)
                if done.is_set():
                    return
                pids = server.worker_pids()
                if pids:
                    os.kill(random.Random(k).choice(pids), signal.SIGKILL)
                    with lock:
                        stats["kills"] += 1

        threads = [threading.Thread(target=client, args=(keys[i::CLIENTS],)) for i in range(CLIENTS)]
        kill_thread = threading.Thread(target=killer)
        kill_thread.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=600)
        done.set()
        kill_thread.join(timeout=30)
        assert not any(t.is_alive() for t in threads), "a client hung"

    print(f"\ncrash test: {stats}")
    assert stats["kills"] == KILLS
    assert stats["server_errors"] == 0, "the application answered 5xx"
    assert len(final) == KEYS
    # Every key: exactly one stored key row and exactly one contact, the one its client got.
    assert IdempotencyKey.objects.count() == KEYS
    assert Contact.objects.count() == KEYS
    by_lead = dict(Contact.objects.values_list("lead__external_id", "id"))
    assert len(by_lead) == KEYS
    for key, body in final.items():
        assert by_lead[f"lead-{key}"] == body["id"], key
    # Capacity held, and the books balance.
    for op in Operator.objects.all():
        assert op.open_load <= op.max_load
    assert Contact.objects.filter(operator__isnull=False).count() == 240
    assert operator_load_mismatches() == []
