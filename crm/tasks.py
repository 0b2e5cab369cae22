"""Background work, run by huey's consumer (`manage.py run_huey`, which `make run` starts
beside gunicorn). README, "Background work", says why huey and how to run more workers.

Rules for every task here:
- Idempotent, with its state in the database, not in the message. Huey removes a message
  from the queue when a worker takes it, so a worker killed mid-task loses that message
  (measured: README). Its transaction rolls back, and a periodic task finds the work again
  from the database (for drains, `queue_sweep`), so a lost message delays, never loses.
- Enqueued after the commit of the change that calls for it (`transaction.on_commit`, as
  `crm.services.queue.queue_drain_later` does): a rolled-back change asks for nothing, and
  the worker always sees the committed change.
- Short: one bounded unit of work per job; a job that leaves work behind enqueues its
  successor, so jobs of other sources (and other kinds) interleave with a long drain.

Delayed work: `some_task.schedule(args, delay=seconds)`, and `raise RetryTask(delay=...)`
from inside a task for a retry with a backoff of the task's own choosing. Tests run tasks
in-process at enqueue time (settings.test: huey's immediate mode).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import HUEY, db_periodic_task, db_task, on_startup

from crm.services.queue import queue_drain, queue_oldest_waiting, sources_to_drain
from crm.services.webhook_rounds import webhook_work_for

logger = logging.getLogger(__name__)

# Cache key of the last time a worker showed it was alive (the cache is shared by every
# web server and worker: the database, or Redis).
HEARTBEAT_KEY = "tasks:worker-heartbeat"


@db_task()
def queue_drain_source(source_id: int) -> int:
    """One bounded batch of the source's queue (at most QUEUE_DRAIN_BATCH contacts, oldest
    first, one transaction); a full batch enqueues the next one. Returns how many it assigned."""
    batch = settings.QUEUE_DRAIN_BATCH
    # solo: if another chain's batch of this source is in progress, this chain ends here.
    assigned = queue_drain(source_ids=[source_id], limit=batch, solo=True)
    if assigned >= batch:
        # Outside any transaction here (db_task runs the job in autocommit), so this is
        # enqueued now, behind whatever other jobs are waiting.
        queue_drain_source(source_id)
    return assigned


@db_periodic_task(crontab(minute="*"))
def queue_sweep() -> list[int]:
    """Every minute: a drain for every source with both waiting contacts and room, so that
    no drain depends on one message surviving. Returns the sources it enqueued."""
    source_ids = sources_to_drain()
    for source_id in source_ids:
        queue_drain_source(source_id)
    if source_ids:
        logger.info("queue sweep: drains enqueued for sources %s", source_ids)
    return source_ids


def _beat() -> None:
    cache.set(HEARTBEAT_KEY, timezone.now().timestamp(), timeout=None)


@db_periodic_task(crontab(minute="*"))
def worker_heartbeat() -> None:
    """Every minute: "a worker is alive and takes jobs" (read by /healthz/worker)."""
    _beat()


@on_startup()
def _at_startup() -> None:
    # So that /healthz/worker is green as soon as `make run` has started, not a minute later,
    # and a restarted worker resumes the drains its predecessor lost at once, not at the next
    # minute. (Runs in each worker thread: the sweeps it enqueues are idempotent.)
    queue_sweep()
    _beat()


def worker_health(*, now: datetime | None = None) -> dict:
    """The worker's liveness and the queue's state, JSON-ready: `alive` when a heartbeat is
    more recent than TASKS_WORKER_STALE_AFTER; the number of waiting contacts and the age in
    seconds of the oldest one."""
    now = now or timezone.now()
    beat = cache.get(HEARTBEAT_KEY)
    last_seen = datetime.fromtimestamp(beat, tz=UTC) if beat is not None else None
    since = (now - last_seen) if last_seen else None
    waiting, oldest = queue_oldest_waiting()
    return {
        "worker": {
            "alive": since is not None and since <= settings.TASKS_WORKER_STALE_AFTER,
            "last_seen": last_seen.isoformat() if last_seen else None,
            "seconds_since": _seconds(since),
        },
        "queue": {
            "waiting": waiting,
            "oldest_waiting_seconds": _seconds(now - oldest) if oldest else None,
        },
    }


def _seconds(delta: timedelta | None) -> int | None:
    return None if delta is None else max(0, int(delta.total_seconds()))


# --- Outgoing webhooks ------------------------------------------------------------------------
# A chain of short tasks (docs/webhooks.md, "Running on the task engine"): each tick does one
# bounded round (webhook_work_for: a fan-out pass, then deliveries while WEBHOOK_TICK_SECONDS
# last) and enqueues its successor: at once, behind whatever jobs are waiting, when it left
# work; after WEBHOOK_POLL_SECONDS when it found none. So no tick holds a worker thread for
# longer than its budget plus one attempt, and a drain enqueued meanwhile runs right after the
# tick in progress, even with one worker thread. The request path enqueues nothing: it writes
# its event rows, and the chain finds them. All state is in the database: a tick killed
# mid-delivery loses nothing (crm.services.webhook_outbox).
#
# One chain at a time, held by a lease in huey's own storage (beside the queue: the SQLite
# file, or Redis): the chain's token and an expiry that each tick renews. A tick whose token
# is no longer the lease's ends its chain. A chain whose worker was killed stops renewing; the
# minute keepalive starts a new one once the lease has expired, and a worker process starting
# takes over at once (it is usually the killed one's replacement; if not, the old chain ends
# at its next tick). Two starters racing each write their own token, and the last write wins:
# every other chain ends at its next tick, so at most one tick of overlap, which delivery
# tolerates anyway (claims skip each other's rows, fan-outs run one at a time).
WEBHOOK_CHAIN_KEY = "webhooks-chain"
_chain_started_here = threading.Lock()


def webhook_chain_lease_seconds() -> float:
    """How long a chain's lease lasts without renewal: longer than a tick can take (its budget
    plus one attempt's timeouts) and the wait for the next one, so a live chain keeps it."""
    attempt = settings.WEBHOOK_CONNECT_TIMEOUT + settings.WEBHOOK_READ_TIMEOUT
    return 60.0 + settings.WEBHOOK_TICK_SECONDS + attempt


def webhook_chain_holder(*, now: float | None = None) -> str | None:
    """The token of the chain holding an unexpired lease, if any."""
    lease = HUEY.get(WEBHOOK_CHAIN_KEY, peek=True)
    now = time.time() if now is None else now
    return lease["token"] if lease and lease["until"] > now else None


def _lease_to(token: str, *, now: float | None = None) -> None:
    now = time.time() if now is None else now
    HUEY.put(WEBHOOK_CHAIN_KEY, {"token": token, "until": now + webhook_chain_lease_seconds()})


def webhooks_chain_start(*, takeover: bool = False, now: float | None = None) -> str | None:
    """Start a webhook chain unless a live one holds the lease (`takeover`: regardless).
    Returns the new chain's token, or None when a live chain was left alone."""
    if not takeover and webhook_chain_holder(now=now) is not None:
        return None
    token = uuid.uuid4().hex
    _lease_to(token, now=now)
    webhooks_tick(token)
    return token


@db_task()
def webhooks_tick(token: str) -> dict:
    """One bounded round of webhook work, then the next tick of the chain (see above)."""
    lease = HUEY.get(WEBHOOK_CHAIN_KEY, peek=True)
    if not lease or lease["token"] != token:
        return {"ended": True}  # another chain took over: this one ends here
    _lease_to(token)
    done = webhook_work_for(seconds=settings.WEBHOOK_TICK_SECONDS)
    if done.busy:
        webhooks_tick(token)  # outside any transaction: enqueued now, behind waiting jobs
    else:
        webhooks_tick.schedule((token,), delay=settings.WEBHOOK_POLL_SECONDS)
    return {"events": done.events, "attempts": done.attempts, "busy": done.busy}


@db_periodic_task(crontab(minute="*"))
def webhooks_keepalive() -> str | None:
    """Every minute: start a webhook chain if none holds a live lease (its worker was killed,
    or its message lost). Returns the new chain's token, if it started one."""
    token = webhooks_chain_start()
    if token:
        logger.info("webhooks: chain %s started", token)
    return token


@on_startup()
def _webhooks_chain_at_startup() -> None:
    # Every worker thread runs startup hooks; one takeover per process is enough.
    if _chain_started_here.acquire(blocking=False):
        webhooks_chain_start(takeover=True)
