from dataclasses import dataclass
from hmac import compare_digest

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Exists, OuterRef, Q
from django.db.models.sql.compiler import SQLCompiler
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from knox import auth as knox_auth
from knox.crypto import hash_token
from knox.models import get_token_model
from knox.settings import CONSTANTS
from rest_framework import exceptions

from crm.models import BotSource

# Stands for the presented key's prefix while the lookup is compiled; replaced by the real one
# in the parameters of every execution.
KEY_PLACEHOLDER = "\x00minicrm-token-key\x00"


@dataclass(frozen=True)
class CompiledTokenQuery:
    """The token + user + permission-bits lookup, compiled to SQL once per database
    connection wrapper (one per thread and alias, kept across requests): compiling it was
    most of authentication's CPU time. The parameters are the compiled ones with the key put
    in `key_index`; the compiler's converters turn each row into Python values as the ORM
    would (SQLite returns datetimes as text, booleans as integers)."""

    sql: str
    params: tuple
    key_index: int
    compiler: SQLCompiler
    converters: dict
    token_fields: list[str]
    user_fields: list[str]

    @classmethod
    def build(cls, alias: str) -> "CompiledTokenQuery":
        token_model, user_model = get_token_model(), get_user_model()
        token_fields = [f.attname for f in token_model._meta.concrete_fields]
        user_fields = [f.attname for f in user_model._meta.concrete_fields]
        can_add_contact = Permission.objects.filter(
            Q(user=OuterRef("user_id")) | Q(group__user=OuterRef("user_id")),
            content_type__app_label="crm",
            codename="add_contact",
        )
        queryset = (
            token_model.objects.using(alias)
            .annotate(
                can_add_contact=Exists(can_add_contact),
                bound_to_sources=Exists(BotSource.objects.filter(user=OuterRef("user_id"))),
            )
            .filter(token_key=KEY_PLACEHOLDER)
            .values_list(
                *token_fields, *(f"user__{name}" for name in user_fields), "can_add_contact", "bound_to_sources"
            )
        )
        compiler = queryset.query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        fields = [s[0] for s in compiler.select[0 : compiler.col_count]]
        return cls(
            sql=sql,
            params=tuple(params),
            key_index=list(params).index(KEY_PLACEHOLDER),
            compiler=compiler,
            converters=compiler.get_converters(fields),
            token_fields=token_fields,
            user_fields=user_fields,
        )

    def fetch(self, key_prefix: str) -> list:
        """The tokens whose public prefix is `key_prefix`, each with its user loaded and the
        user's `crm_can_add_contact` / `crm_bound_to_sources` set."""
        alias = self.compiler.using
        params = list(self.params)
        params[self.key_index] = key_prefix
        with connections[alias].cursor() as cursor:
            cursor.execute(self.sql, params)
            rows = cursor.fetchall()
        if self.converters:
            rows = self.compiler.apply_converters(rows, self.converters)
        token_model, user_model = get_token_model(), get_user_model()
        n_token, n_user = len(self.token_fields), len(self.user_fields)
        tokens = []
        for row in rows:
            row = tuple(row)
            token = token_model.from_db(alias, self.token_fields, row[:n_token])
            user = user_model.from_db(alias, self.user_fields, row[n_token : n_token + n_user])
            user.crm_can_add_contact, user.crm_bound_to_sources = row[n_token + n_user :]
            token.user = user
            tokens.append(token)
        return tokens


def token_query(alias: str = DEFAULT_DB_ALIAS) -> CompiledTokenQuery:
    """This thread's compiled lookup for `alias` (built on first use)."""
    connection = connections[alias]
    compiled = getattr(connection, "crm_token_query", None)
    if compiled is None:
        compiled = connection.crm_token_query = CompiledTokenQuery.build(alias)
    return compiled


class TokenAuthentication(knox_auth.TokenAuthentication):
    """knox's hashed-token scheme with two changes on the hot path:

    - one query per request, compiled once per connection (`CompiledTokenQuery`: the ORM's
      compilation of it was most of authentication's CPU): the token is read joined with
      its user, and the sweep of the
      user's *other* expired tokens that knox runs on every request is left out (an expired
      token is still refused and deleted when it is presented);
    - a key that is not ASCII is a 401 "Invalid token.", not a 500;
    - the intake's permission (crm.add_contact, held directly or through a group) rides on
      the same query as `user.crm_can_add_contact`, so the hot path checks it without the
      two permission queries Django's backend would run (bench: a quarter of the intake's
      CPU went there), and so does "is this client bound to sources at all", which spares
      unbound clients the binding lookup.
    """

    def authenticate_credentials(self, token: bytes):
        msg = _("Invalid token.")
        try:
            key = token.decode("ascii")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed(msg) from exc
        # Every request reads the key from the database (nothing is cached), so a revoked
        # key is refused on its very next request, in every process.
        for auth_token in token_query().fetch(key[: CONSTANTS.TOKEN_KEY_LENGTH]):
            if auth_token.expiry is not None and auth_token.expiry < timezone.now():
                auth_token.delete()
                continue
            if compare_digest(hash_token(key), auth_token.digest):
                return self.validate_user(auth_token)
        raise exceptions.AuthenticationFailed(msg)
