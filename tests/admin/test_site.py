"""The admin site: only staff get in."""

import pytest

pytestmark = pytest.mark.django_db


def test_anonymous_is_sent_to_the_login_page(client):
    for url in ["/admin/", "/admin/crm/operator/", "/admin/routing/"]:
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_bot_cannot_use_admin(client):
    from crm.services.accounts import bot_create

    user, _ = bot_create(name="a_bot")
    client.force_login(user)
    response = client.get("/admin/crm/contact/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
