from django.core.management.base import BaseCommand, CommandError

from crm.errors import DomainError
from crm.services.accounts import bot_create


class Command(BaseCommand):
    help = "Create a bot user that may only register contacts, and print its API key on the last line."

    def add_arguments(self, parser):
        parser.add_argument("name", help="The bot's user name, e.g. telegram_bot_A.")

    def handle(self, *args, **options):
        try:
            user, key = bot_create(name=options["name"])
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stderr.write(f"Created bot {user.username!r} (user id {user.pk}). Its key is shown once:")
        self.stdout.write(key)
