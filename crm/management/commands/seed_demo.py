from django.utils.functional import lazy
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.management.base import LocalisedCommand
from crm.management.messages import demo_counts
from crm.services.demo import DEMO_OPERATORS, DEMO_SOURCES, DEMO_WEIGHTS, demo_seed


class Command(LocalisedCommand):
    help = format_lazy(
        gettext_lazy(
            "Create the demo routing set-up ({counts}) where missing. Idempotent: existing rows are left as they are."
        ),
        counts=lazy(demo_counts, str)(
            {"operators": len(DEMO_OPERATORS), "sources": len(DEMO_SOURCES), "weights": len(DEMO_WEIGHTS)}
        ),
    )

    def handle(self, *args, **options):
        created = demo_seed()
        self.stdout.write(_("Demo data: created %(counts)s (the rest existed).") % {"counts": demo_counts(created)})
