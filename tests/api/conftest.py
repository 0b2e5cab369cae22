"""The API's callers as test clients: anonymous, a bot, a staff member, a plain user."""

import pytest
from knox.models import AuthToken
from rest_framework.test import APIClient

from crm.services.accounts import bot_create
from tests.factories import UserFactory


def _client_for(user) -> APIClient:
    client = APIClient()
    _, key = AuthToken.objects.create(user=user, expiry=None)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    client.user = user
    return client


@pytest.fixture
def anon_client():
    return APIClient()


@pytest.fixture
def staff_client(staff_user):
    return _client_for(staff_user)


@pytest.fixture
def bot_client(db):
    user, key = bot_create(name="test_bot")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    client.user = user
    return client


@pytest.fixture
def plain_user_client(db):
    """Authenticated, neither staff nor bot: may do nothing."""
    return _client_for(UserFactory())
