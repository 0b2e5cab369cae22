from django.core.management.base import CommandError
from django.utils.translation import gettext, gettext_lazy

from crm.errors import DomainError
from crm.management.base import LocalisedCommand
from crm.services.accounts import api_token_create


class Command(LocalisedCommand):
    help = gettext_lazy("Issue a new API key for an existing user and print it on the last line (shown once).")

    def add_arguments(self, parser):
        parser.add_argument("username", help=gettext_lazy("The user who gets the key."))

    def handle(self, *args, **options):
        try:
            key = api_token_create(username=options["username"])
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stderr.write(gettext("New API key for %(user)s (shown once):") % {"user": repr(options["username"])})
        self.stdout.write(key)
