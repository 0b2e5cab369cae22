from django.core.management.base import CommandError
from django.utils.translation import gettext_lazy, ngettext

from crm.errors import DomainError
from crm.management.base import LocalisedCommand
from crm.services.lead_erasure import lead_erase, lead_find


class Command(LocalisedCommand):
    help = gettext_lazy(
        "Erase a lead's personal data on request: his name, phone and email, his contacts' messages and "
        "metadata, and his external id (replaced by a random token). Contacts, operators, sources, times "
        "and statistics stay. The old external id registers as a new lead afterwards."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "external_id", help=gettext_lazy("The lead's external id (case and surrounding spaces do not matter).")
        )

    def handle(self, *args, **options):
        try:
            lead = lead_find(external_id=options["external_id"])
            erasure = lead_erase(lead_id=lead.pk)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        # The external id is not printed: terminals and job logs are kept.
        self.stdout.write(
            ngettext(
                "Erased the personal data of lead %(lead)d and of its %(n)d contact.",
                "Erased the personal data of lead %(lead)d and of its %(n)d contacts.",
                erasure.contacts,
            )
            % {"lead": erasure.lead_id, "n": erasure.contacts}
        )
