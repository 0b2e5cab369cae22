from django.core.management.base import CommandError
from django.utils.translation import gettext, gettext_lazy

from crm.errors import DomainError
from crm.management.base import LocalisedCommand
from crm.services.accounts import bot_create


class Command(LocalisedCommand):
    help = gettext_lazy(
        "Create a bot user that may only register contacts, and print its API key on the last line. "
        "With --source the bot may post only to those sources; without, to every source."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help=gettext_lazy("The bot's user name, e.g. telegram_bot_A."))
        parser.add_argument(
            "--source",
            action="append",
            default=[],
            metavar="NAME_OR_ID",
            help=gettext_lazy("A source the bot may post to (its name or id); repeat for several."),
        )

    def handle(self, *args, **options):
        try:
            user, key = bot_create(name=options["name"], sources=options["source"])
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        bound = ", ".join(user.bot_sources.order_by("source_id").values_list("source__name", flat=True))
        if bound:
            message = gettext("Created bot %(name)s (user id %(id)d), posting to sources: %(sources)s.")
        else:
            message = gettext("Created bot %(name)s (user id %(id)d), posting to every source.")
        self.stderr.write(message % {"name": repr(user.username), "id": user.pk, "sources": bound})
        self.stderr.write(gettext("Its key is shown once:"))
        self.stdout.write(key)
