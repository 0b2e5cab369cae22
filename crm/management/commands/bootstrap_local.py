import os

from django.core.management.base import BaseCommand

from crm.services.demo import local_first_run


class Command(BaseCommand):
    help = (
        "First local run only (no users yet): load the demo routing set-up, create an admin "
        "user and a bot, and print their credentials once. Does nothing on later runs."
    )

    def handle(self, *args, **options):
        result = local_first_run()
        if result is None:
            self.stdout.write("Users exist already: nothing to set up.")
            return
        demo = result["demo"]
        port = os.environ.get("PORT", "8000")
        self.stdout.write(
            f"Demo data: {demo['operators']} operators, {demo['sources']} sources, {demo['weights']} weights.\n"
            "Credentials, shown once — keep them:\n"
            f"  admin login:     {result['admin_username']} / {result['admin_password']}  (http://127.0.0.1:{port}/admin/)\n"
            f"  admin API key:   {result['admin_key']}\n"
            f"  bot {result['bot_name']!r} key: {result['bot_key']}"
        )
