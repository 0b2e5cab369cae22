import signal
import time

from django.core.management.base import BaseCommand

from crm.services.webhook_outbox import webhook_work


class Command(BaseCommand):
    help = "Deliver outgoing webhooks: fan out new events, send due deliveries, repeat."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="One round, then exit.")
        parser.add_argument("--interval", type=float, default=1.0, help="Seconds to wait when there was nothing to do.")

    def handle(self, *args, once: bool, interval: float, **options):
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        totals = {"events": 0, "succeeded": 0, "retrying": 0, "failed": 0}
        while not stopping:
            dispatched, run = webhook_work()
            totals["events"] += dispatched
            for name in ("succeeded", "retrying", "failed"):
                totals[name] += getattr(run, name)
            if once:
                break
            if not dispatched and not run.claimed:
                time.sleep(interval)
        self.stdout.write(
            f"webhooks: {totals['events']} event(s) dispatched, {totals['succeeded']} delivered, "
            f"{totals['retrying']} to retry, {totals['failed']} failed"
        )
