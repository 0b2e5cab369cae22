"""Operators with logins, their API clients, and a clock tests can move forward."""

from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from crm.services.accounts import operator_login_create
from tests.factories import OperatorFactory


def operator_client(operator) -> APIClient:
    """An API client holding a key of `operator`'s login (created if he has none)."""
    if operator.user_id is None:
        operator_login_create(operator_id=operator.pk, username=f"op-{operator.pk}")
        operator.refresh_from_db()
    client = APIClient()
    _, key = AuthToken.objects.create(user=operator.user, expiry=None)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    client.user = operator.user
    client.operator = operator
    return client


def with_login(operator=None, **kwargs):
    """An operator with a login who was just active (so not auto-away)."""
    operator = operator or OperatorFactory(**kwargs)
    operator_login_create(operator_id=operator.pk, username=f"op-{operator.pk}")
    operator.__class__.objects.filter(pk=operator.pk).update(last_seen_at=timezone.now())
    operator.refresh_from_db()
    return operator
