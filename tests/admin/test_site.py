"""The admin site (minicrm_project/admin.py): only staff get in, the index puts the daily work
first, there is no "view site" link, and a record nobody can change has no Save button."""

import pytest
from django.urls import reverse

from crm.models import IdempotencyKey
from tests.factories import UserFactory

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


def test_index_puts_the_plumbing_below_the_daily_work(client, admin_user):
    client.force_login(admin_user)
    apps = client.get("/admin/").context["app_list"]
    names = [str(app["name"]) for app in apps]
    assert names[-1] == "Access and integrations"
    access = {str(model["name"]) for model in apps[-1]["models"]}
    assert {"API keys", "Bot source bindings", "Idempotency keys", "Users", "Groups"} <= {
        name[:1].upper() + name[1:] for name in access
    }
    daily = {model["object_name"] for app in apps[:-1] for model in app["models"]}
    assert {"Contact", "Lead", "Operator", "Source"} <= daily
    assert not daily & {"IdempotencyKey", "BotSource", "AuthToken", "User", "Group"}


def test_there_is_no_view_site_link_to_the_api_docs(admin_client):
    page = admin_client.get("/admin/").content.decode()
    assert "View site" not in page and 'href="/docs' not in page


def test_an_idempotency_key_is_a_page_to_read_without_save_buttons(admin_client):
    key = IdempotencyKey.objects.create(
        user=UserFactory(), key="k-1", fingerprint="f", response_status=201, response_body={}
    )
    page = admin_client.get(reverse("admin:crm_idempotencykey_change", args=[key.pk]), HTTP_ACCEPT_LANGUAGE="ru")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="_save"' not in html and 'name="_continue"' not in html
    assert "k-1" in html
