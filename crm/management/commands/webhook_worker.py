import signal

from django.utils.translation import gettext_lazy

from crm.management.base import LocalisedCommand
from crm.services.webhook_outbox import webhook_work
from crm.services.webhook_rounds import webhook_pump


class Command(LocalisedCommand):
    help = gettext_lazy("Deliver outgoing webhooks: fan out new events, send due deliveries, repeat until stopped.")

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help=gettext_lazy("One round, then exit."))
        parser.add_argument(
            "--interval", type=float, default=1.0, help=gettext_lazy("Seconds to wait when there was nothing to do.")
        )

    def handle(self, *args, once: bool, interval: float, **options):
        if once:
            dispatched, run = webhook_work()
            totals = {"events": dispatched, "succeeded": run.succeeded, "retrying": run.retrying, "failed": run.failed}
        else:
            stopping = []
            signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
            signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
            totals = webhook_pump(seconds=float("inf"), idle_sleep=interval, should_stop=lambda: bool(stopping))
        self.stdout.write(
            f"webhooks: {totals['events']} event(s) dispatched, {totals['succeeded']} delivered, "
            f"{totals['retrying']} to retry, {totals['failed']} failed"
        )
