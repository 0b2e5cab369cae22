from datetime import timedelta

from django.conf import settings
from django.core.management.base import CommandError
from django.utils.translation import gettext, gettext_lazy, ngettext

from crm.management.base import LocalisedCommand
from crm.services.idempotency import idempotency_keys_purge


class Command(LocalisedCommand):
    help = gettext_lazy(
        "Delete stored idempotency keys older than the retention (IDEMPOTENCY_KEY_TTL_HOURS, at least 24). "
        "Run it from cron, e.g. hourly."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than-hours",
            type=int,
            default=None,
            help=gettext_lazy("Override the retention (hours, at least 24)."),
        )

    def handle(self, *args, **options):
        hours = options["older_than_hours"]
        if hours is not None and hours < 24:
            raise CommandError(gettext("Keys are kept at least 24 hours."))
        ttl = timedelta(hours=hours) if hours is not None else settings.IDEMPOTENCY_KEY_TTL
        deleted = idempotency_keys_purge(older_than=ttl)
        self.stdout.write(
            ngettext(
                "Purged %(n)d idempotency key older than %(ttl)s.",
                "Purged %(n)d idempotency keys older than %(ttl)s.",
                deleted,
            )
            % {"n": deleted, "ttl": ttl}
        )
