from django.core.management.base import CommandError
from django.utils.translation import gettext, gettext_lazy

from crm.errors import DomainError
from crm.management.base import LocalisedCommand
from crm.services.accounts import operator_login_create


class Command(LocalisedCommand):
    help = gettext_lazy(
        "Give an operator his own login: create (or link) the user USERNAME in the operators group "
        "and print a new generated password alone on the last line (shown once). "
        "`create_api_token USERNAME` then makes him an API key."
    )

    def add_arguments(self, parser):
        parser.add_argument("operator_id", type=int, help=gettext_lazy("The operator's id."))
        parser.add_argument("username", help=gettext_lazy("The user name of his login."))

    def handle(self, *args, **options):
        try:
            user, password = operator_login_create(operator_id=options["operator_id"], username=options["username"])
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stderr.write(
            gettext("Operator %(id)d logs in as %(user)s at /admin/; password (shown once):")
            % {"id": options["operator_id"], "user": repr(user.get_username())}
        )
        self.stdout.write(password)
