from django.core.management.base import CommandError
from django.utils.translation import gettext, gettext_lazy, ngettext

from crm.errors import DomainError
from crm.management.base import LocalisedCommand
from crm.services.accounts import api_token_revoke, api_tokens_list


class Command(LocalisedCommand):
    help = gettext_lazy(
        "List API keys (their public prefix only: the keys themselves are never stored) or revoke "
        "one by its prefix. A revoked key is refused on its next request."
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        listing = sub.add_parser("list", help=gettext_lazy("List keys: prefix, user, created, expiry."))
        listing.add_argument("--user", help=gettext_lazy("Only this user's keys."))
        revoke = sub.add_parser("revoke", help=gettext_lazy("Revoke the key that starts with PREFIX."))
        revoke.add_argument("prefix", help=gettext_lazy("The first characters of the key, as `list` shows them."))

    def handle(self, *args, **options):
        if options["verb"] == "list":
            tokens = api_tokens_list(username=options.get("user"))
            for token in tokens:
                expiry = token.expiry.isoformat() if token.expiry else gettext("never")
                self.stdout.write(f"{token.token_key}  {token.user.username}  {token.created:%Y-%m-%d %H:%M}  {expiry}")
            self.stderr.write(ngettext("%(n)d key.", "%(n)d keys.", len(tokens)) % {"n": len(tokens)})
            return
        try:
            token = api_token_revoke(prefix=options["prefix"])
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            gettext("Revoked key %(prefix)s… of %(user)s.")
            % {"prefix": token.token_key, "user": repr(token.user.username)}
        )
