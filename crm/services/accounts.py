"""API users: bots (may only register contacts) and API tokens for existing users."""

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext
from knox.models import AuthToken
from knox.settings import CONSTANTS

from crm.errors import DomainError, NotFoundError
from crm.models import BotSource, Operator, Source, id_from_text

BOTS_GROUP = "bots"
BOT_PERMISSIONS = [("crm", "add_contact")]
# Operators hold no model permission: what they may do (their own contacts, their
# availability) is decided by who they are, not by the staff permission system.
OPERATORS_GROUP = "operators"


def bots_group_ensure() -> Group:
    """The group whose members may register contacts and nothing else."""
    group, _ = Group.objects.get_or_create(name=BOTS_GROUP)
    for app_label, codename in BOT_PERMISSIONS:
        group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return group


def operator_login_create(*, operator_id: int, username: str) -> tuple[object, str]:
    """Give an operator his own login: create the user `username` (or link an existing,
    non-staff one that is nobody else's login), put him in the operators group and set a
    new random password, returned once (only its hash is stored). An API key for him is
    then made with api_token_create. Returns (user, password).

    From then on the operator is subject to auto-away: until he logs in (or calls the API)
    he counts as away for routing."""
    username = (username or "").strip()
    if not username:
        raise DomainError(gettext("The username may not be blank."), field="username")
    User = get_user_model()
    with transaction.atomic():
        # The operator's row lock: routing reads his login (auto-away) under the same lock.
        operator = Operator.objects.select_for_update(no_key=True).filter(pk=operator_id).first()
        if operator is None:
            raise NotFoundError(gettext("Operator %(id)d does not exist.") % {"id": operator_id}, field="operator_id")
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User(username=username, is_staff=False, is_superuser=False)
            try:
                user.full_clean(exclude=["password"])
            except ValidationError as exc:
                raise DomainError(" ".join(exc.message_dict.get("username", exc.messages)), field="username") from exc
        else:
            if user.is_staff or user.is_superuser:
                raise DomainError(
                    gettext("User %(name)s is staff; an operator's login must be a plain user.")
                    % {"name": repr(username)},
                    field="username",
                )
            other = Operator.objects.filter(user=user).exclude(pk=operator.pk).first()
            if other is not None:
                raise DomainError(
                    gettext("User %(name)s is already the login of operator %(operator)s.")
                    % {"name": repr(username), "operator": other.name},
                    field="username",
                    needs=("crm.view_operator",),
                    public=gettext("User %(name)s is already the login of another operator.")
                    % {"name": repr(username)},
                )
        if operator.user_id is not None and operator.user_id != user.pk:
            raise DomainError(
                gettext("Operator %(name)s already has a login (%(user)s).")
                % {"name": operator.name, "user": operator.user},
                field="operator_id",
                code="unique",
                needs=("auth.view_user",),
                public=gettext("Operator %(name)s already has a login.") % {"name": operator.name},
            )
        password = secrets.token_urlsafe(12)
        user.set_password(password)
        user.is_active = True
        user.save()
        group, _ = Group.objects.get_or_create(name=OPERATORS_GROUP)
        user.groups.add(group)
        if operator.user_id != user.pk:
            operator.user = user
            operator.save(update_fields=["user"])
    return user, password


def api_token_create(*, username: str) -> str:
    """Issue a new API key for an existing user and return it. Only its hash is stored
    (knox): the key is shown once. A user may hold several keys; each can be revoked."""
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise NotFoundError(gettext("User %(name)s does not exist.") % {"name": repr(username)}, field="username")
    if not user.is_active:
        raise DomainError(gettext("User %(name)s is inactive.") % {"name": repr(username)}, field="username")
    _, key = AuthToken.objects.create(user=user, expiry=None)
    return key


def bot_create(*, name: str, sources: list[str] | None = None) -> tuple[object, str]:
    """Create a bot user (no password, no staff rights, member of the bots group) and its
    first API key. Returns (user, key). `sources` (names or ids) bind the bot to those
    sources only; without them it may post to every source."""
    name = (name or "").strip()
    if not name:
        raise DomainError(gettext("The bot name may not be blank."), field="name")
    User = get_user_model()
    with transaction.atomic():
        bound = _sources_resolve(sources or [])
        if User.objects.filter(username=name).exists():
            raise DomainError(
                gettext("A user named %(name)s already exists.") % {"name": repr(name)}, field="name", code="unique"
            )
        user = User(username=name, is_staff=False, is_superuser=False)
        user.set_unusable_password()
        try:
            user.full_clean(exclude=["password"])
        except ValidationError as exc:
            raise DomainError(" ".join(exc.message_dict.get("username", exc.messages)), field="name") from exc
        user.save()
        user.groups.add(bots_group_ensure())
        BotSource.objects.bulk_create([BotSource(user=user, source=source) for source in bound])
        _, key = AuthToken.objects.create(user=user, expiry=None)
    return user, key


def _sources_resolve(names_or_ids: list[str]) -> list[Source]:
    """Sources by id (digits) or by case-insensitive name, without duplicates."""
    found: dict[int, Source] = {}
    for raw in names_or_ids:
        text = str(raw).strip()
        source = None
        if (source_id := id_from_text(text)) is not None:
            source = Source.objects.filter(pk=source_id).first()
        if source is None and text:
            source = Source.objects.filter(name__iexact=text).first()
        if source is None:
            raise NotFoundError(
                gettext("Source %(name)s does not exist (give a name or an id).") % {"name": repr(text)}, field="source"
            )
        found[source.pk] = source
    return list(found.values())


def api_token_revoke(*, prefix: str) -> AuthToken:
    """Revoke the one key whose public prefix (the first characters knox keeps in clear,
    shown by `api_keys list`) is `prefix`. A revoked key is refused on its next request:
    every request reads the key from the database. Raises NotFoundError when no key, and
    DomainError when several keys, start with `prefix`."""
    prefix = (prefix or "").strip()
    if not prefix:
        raise DomainError(gettext("Give the key's prefix."), field="prefix")
    matches = list(
        AuthToken.objects.select_related("user").filter(token_key__startswith=prefix[: CONSTANTS.TOKEN_KEY_LENGTH])[:2]
    )
    if not matches:
        raise NotFoundError(gettext("No API key starts with %(prefix)s.") % {"prefix": repr(prefix)}, field="prefix")
    if len(matches) > 1:
        raise DomainError(
            gettext("Several API keys start with %(prefix)s; give more characters.") % {"prefix": repr(prefix)},
            field="prefix",
        )
    token = matches[0]
    token.delete()
    return token


def api_tokens_list(*, username: str | None = None) -> list[AuthToken]:
    """Keys, newest first, with their user; only the public prefix (`token_key`) and the
    dates are meaningful: the key itself is never stored."""
    tokens = AuthToken.objects.select_related("user").order_by("-created")
    if username:
        tokens = tokens.filter(user__username=username)
    return list(tokens)
