"""Hooks for a task worker under test, switched on by its environment only.

WORKER_FREEZE_AFTER_TAKES=N: after the N-th contact the worker's drains assign (its UPDATE
done, the batch's transaction still open), touch WORKER_FROZEN_FILE and hang there until
killed: a worker caught mid-batch, deterministically."""

import itertools
import os
import time
from pathlib import Path

from django.apps import AppConfig


class WorkerHooksConfig(AppConfig):
    name = "tests.live"
    label = "live_worker_hooks"

    def ready(self):
        freeze_after = int(os.environ.get("WORKER_FREEZE_AFTER_TAKES", "0"))
        if not freeze_after:
            return
        from crm.services.locking import RoutingContext

        real_take = RoutingContext.take
        takes = itertools.count(1)

        def take(ctx, source_id, operator_id):
            real_take(ctx, source_id, operator_id)
            if next(takes) == freeze_after:
                Path(os.environ["WORKER_FROZEN_FILE"]).touch()
                while True:  # until SIGKILL
                    time.sleep(1)

        RoutingContext.take = take
