"""API users: bots (may only register contacts) and API tokens for existing users."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.db import transaction
from knox.models import AuthToken

from crm.errors import DomainError, NotFoundError

BOTS_GROUP = "bots"
BOT_PERMISSIONS = [("crm", "add_contact")]


def bots_group_ensure() -> Group:
    """The group whose members may register contacts and nothing else."""
    group, _ = Group.objects.get_or_create(name=BOTS_GROUP)
    for app_label, codename in BOT_PERMISSIONS:
        group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return group


def api_token_create(*, username: str) -> str:
    """Issue a new API key for an existing user and return it. Only its hash is stored
    (knox): the key is shown once. A user may hold several keys; each can be revoked."""
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise NotFoundError(f"User {username!r} does not exist.", field="username")
    if not user.is_active:
        raise DomainError(f"User {username!r} is inactive.", field="username")
    _, key = AuthToken.objects.create(user=user, expiry=None)
    return key


def bot_create(*, name: str) -> tuple[object, str]:
    """Create a bot user (no password, no staff rights, member of the bots group) and its
    first API key. Returns (user, key)."""
    name = (name or "").strip()
    if not name:
        raise DomainError("The bot name may not be blank.", field="name")
    User = get_user_model()
    with transaction.atomic():
        if User.objects.filter(username=name).exists():
            raise DomainError(f"A user named {name!r} already exists.", field="name", code="unique")
        user = User(username=name, is_staff=False, is_superuser=False)
        user.set_unusable_password()
        try:
            user.full_clean(exclude=["password"])
        except ValidationError as exc:
            raise DomainError(" ".join(exc.message_dict.get("username", exc.messages)), field="name") from exc
        user.save()
        user.groups.add(bots_group_ensure())
        _, key = AuthToken.objects.create(user=user, expiry=None)
    return user, key


def api_tokens_revoke(*, username: str) -> int:
    """Revoke every key of a user; returns how many were revoked."""
    deleted, _ = AuthToken.objects.filter(user__username=username).delete()
    return deleted
