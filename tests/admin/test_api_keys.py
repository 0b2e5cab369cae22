"""API keys in the admin: knox's token through the proxy ApiKey, named in the user's language
("API-ключи", not knox's untranslated "auth token"), shown by its public prefix rather than
its 128-character digest, and kept behind knox's own permissions."""

import re

import pytest
from django.contrib.auth.models import Permission
from knox.models import AuthToken

from crm.services.accounts import bot_create
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

RU = {"HTTP_ACCEPT_LANGUAGE": "ru"}


@pytest.fixture
def root_client(client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def test_the_key_pages_read_in_russian(root_client):
    bot_create(name="bot")
    token = AuthToken.objects.get()
    pages = {
        "index": root_client.get("/admin/", **RU),
        "list": root_client.get("/admin/crm/apikey/", **RU),
        "delete": root_client.get(f"/admin/crm/apikey/{token.pk}/delete/", **RU),
    }
    assert all(page.status_code == 200 for page in pages.values())
    assert "API-ключи" in pages["index"].content.decode()
    assert "Выберите API-ключ для просмотра" in pages["list"].content.decode()
    assert f'хотите удалить API-ключ "{token.token_key}… (bot)"' in pages["delete"].content.decode()
    for name, page in pages.items():
        text = page.content.decode()
        assert "auth token" not in text.lower() and "Knox" not in text, name
        shown = re.sub(r"<[^>]+>", " ", text)  # what the page shows (its links carry the digest: the pk)
        assert token.digest not in shown, name  # shown by its prefix, not its 128-character digest
    assert root_client.get("/admin/knox/authtoken/").status_code == 404  # knox's own admin is gone


def test_keys_stay_behind_knoxs_permissions(client):
    bot_create(name="bot")
    staff = UserFactory(is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label="crm"))
    client.force_login(staff)
    assert client.get("/admin/crm/apikey/").status_code == 403
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_authtoken", "delete_authtoken"]))
    token = AuthToken.objects.get()
    assert client.get("/admin/crm/apikey/").status_code == 200
    assert client.post(f"/admin/crm/apikey/{token.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not AuthToken.objects.exists()
