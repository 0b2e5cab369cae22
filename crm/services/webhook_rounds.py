"""Webhook work in bounded rounds, on top of the outbox's steps (crm.services.webhook_outbox):
what the task engine's webhook task (crm.tasks.webhooks_tick) runs once per tick, and
`manage.py webhook_worker` runs back to back."""

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db import DatabaseError, close_old_connections

from crm.services.webhook_outbox import FAN_OUT_BATCH, webhook_deliver_due, webhook_fan_out

logger = logging.getLogger(__name__)


@dataclass
class WorkRound:
    """What one bounded round of webhook work did, and whether it left work behind."""

    events: int = 0
    succeeded: int = 0
    retrying: int = 0
    failed: int = 0
    attempts: int = 0
    busy: bool = False  # stopped by its budget, not for lack of work: go on at once


def webhook_work_for(
    *,
    seconds: float,
    clock: Callable[[], float] = time.monotonic,
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> WorkRound:
    """A bounded round: one fan-out pass, then due deliveries while the budget lasts. The
    budget is checked before each attempt, so a round lasts at most `seconds` plus one
    attempt (whose own bound is the connect and read timeouts), and it attempts at least one
    delivery if any is due. Deliveries are claimed DELIVERY_BATCH at a time (one claim query
    serves ten: the query is most of a delivery's database cost), and those a stopping round
    did not attempt are given back, so it leaves nothing leased behind it. `busy` says the
    round stopped with work left (its budget ran out, or the fan-out pass was full). What the
    task engine's webhook task (crm.tasks.webhooks_tick) runs, and, in a loop,
    `manage.py webhook_worker`."""
    deadline = clock() + seconds
    done = WorkRound()
    done.events = webhook_fan_out(now=now)
    while True:
        run = webhook_deliver_due(now=now, rng=rng, stop=lambda: clock() >= deadline)
        done.attempts += run.claimed
        for name in ("succeeded", "retrying", "failed"):
            setattr(done, name, getattr(done, name) + getattr(run, name))
        if not run.claimed:
            break
        if run.stopped or clock() >= deadline:
            done.busy = True
            break
    done.busy = done.busy or done.events >= FAN_OUT_BATCH
    return done


def webhook_pump(*, seconds: float, idle_sleep: float = 0.5, should_stop=None) -> dict:
    """Work for about `seconds` (at least one round): bounded rounds back to back, sleeping
    `idle_sleep` whenever one found nothing to do. What `manage.py webhook_worker` runs (a
    process of its own, so its sleeping holds no task-engine thread). Returns the totals."""
    deadline = time.monotonic() + seconds
    totals = {"events": 0, "succeeded": 0, "retrying": 0, "failed": 0}
    while not (should_stop and should_stop()):
        try:
            done = webhook_work_for(seconds=min(1.0, max(seconds, 0)))
        except DatabaseError:
            # The database went away (a restart, a failover): nothing is lost, every step's
            # state is in it. Wait and go on rather than end the worker.
            logger.exception("webhook worker: database error; retrying")
            close_old_connections()
            done = WorkRound()
        for name in totals:
            totals[name] += getattr(done, name)
        left = deadline - time.monotonic()
        if left <= 0:
            break
        if not done.busy and not done.attempts and not done.events:
            time.sleep(min(idle_sleep, left))
    return totals
