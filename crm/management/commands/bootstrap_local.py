import os

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.management.base import LocalisedCommand
from crm.management.messages import demo_counts
from crm.services.demo import local_first_run


class Command(LocalisedCommand):
    help = gettext_lazy(
        "First local run only (no users yet): load the demo routing set-up, create an admin "
        "user and a bot, and print their credentials once. Does nothing on later runs."
    )

    def handle(self, *args, **options):
        result = local_first_run()
        if result is None:
            self.stdout.write(
                _(
                    "Users exist already: nothing to set up. Lost the password or a key? "
                    "See the README (changepassword, create_api_token), or `make reset` to start the demo over."
                )
            )
            return
        demo = result["demo"]
        port = os.environ.get("PORT", "8000")
        lines = [
            _("Demo data: %(counts)s.") % {"counts": demo_counts(demo)},
            _("Credentials, shown once — keep them:"),
            "  "
            + _("admin login: %(user)s / %(password)s  (%(url)s)")
            % {
                "user": result["admin_username"],
                "password": result["admin_password"],
                "url": f"http://127.0.0.1:{port}/admin/",
            },
            "  " + _("admin API key: %(key)s") % {"key": result["admin_key"]},
            "  " + _("bot %(name)s key: %(key)s") % {"name": repr(result["bot_name"]), "key": result["bot_key"]},
        ]
        self.stdout.write("\n".join(lines))
