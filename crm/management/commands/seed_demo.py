from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from crm.management.messages import demo_counts
from crm.services.demo import DEMO_OPERATORS, DEMO_SOURCES, DEMO_WEIGHTS, demo_seed


class Command(BaseCommand):
    help = (
        f"Create the demo routing set-up ({len(DEMO_OPERATORS)} operators, {len(DEMO_SOURCES)} sources, "
        f"{len(DEMO_WEIGHTS)} weights) where missing. Idempotent: existing rows are left as they are."
    )

    def handle(self, *args, **options):
        created = demo_seed()
        self.stdout.write(_("Demo data: created %(counts)s (the rest existed).") % {"counts": demo_counts(created)})
