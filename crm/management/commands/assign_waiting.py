from django.utils.translation import gettext, gettext_lazy, ngettext

from crm.management.base import LocalisedCommand
from crm.models import Source
from crm.services.queue import queue_drain_all


class Command(LocalisedCommand):
    help = gettext_lazy(
        "Hand out every waiting contact that an eligible operator has room for, oldest first, "
        "source by source (one short transaction each). Safe to run while traffic comes in, "
        "and concurrently with itself. For cron or after bulk imports."
    )

    def handle(self, *args, **options):
        report = queue_drain_all()
        names = Source.objects.in_bulk([source_id for source_id, _, _ in report])
        for source_id, assigned, waiting in report:
            name = names[source_id].name if source_id in names else source_id
            self.stdout.write(
                gettext("%(source)s: assigned %(assigned)d, still waiting %(waiting)d")
                % {"source": name, "assigned": assigned, "waiting": waiting}
            )
        total = sum(assigned for _, assigned, _ in report)
        still = sum(waiting for _, _, waiting in report)
        summary = ngettext("Assigned %(n)d waiting contact.", "Assigned %(n)d waiting contacts.", total) % {"n": total}
        totals = gettext("Sources: %(sources)d; still waiting: %(still)d.") % {"sources": len(report), "still": still}
        self.stdout.write(f"{summary} {totals}")
