"""The admin's delete confirmations and add/change forms read naturally in Russian (found by
looking at every such page in the browser, tests/live/browser/test_admin_pages_ru.py): the
model's name after "delete" and in the add form's breadcrumb is in the accusative, the
permission pickers are translated, and every form label starts with a capital."""

import pytest
from django.contrib.auth.models import Group

from crm.models import BotSource
from crm.services.accounts import bot_create
from tests.factories import SourceFactory, UserFactory

pytestmark = pytest.mark.django_db

RU = {"HTTP_ACCEPT_LANGUAGE": "ru"}


@pytest.fixture
def root_client(client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def binding():
    source = SourceFactory(name="tg")
    bot_create(name="bot", sources=[str(source.pk)])
    return BotSource.objects.get()


def test_the_delete_confirmation_names_the_object_in_the_accusative(root_client, binding):
    page = root_client.get(f"/admin/crm/botsource/{binding.pk}/delete/", **RU).content.decode()
    assert "хотите удалить привязку бота к источнику" in page
    assert "удалить привязка" not in page
    assert BotSource.objects.filter(pk=binding.pk).exists()


@pytest.mark.parametrize(("n", "words"), [(1, "хотите удалить пользователя?"), (2, "хотите удалить пользователей?")])
def test_the_bulk_delete_confirmation_too(root_client, n, words):
    users = [UserFactory() for _ in range(n)]
    page = root_client.post(
        "/admin/auth/user/",
        {"action": "delete_selected", "_selected_action": [u.pk for u in users]},
        **RU,
    ).content.decode()
    assert words in page
    assert len(users) == n and all(type(u).objects.filter(pk=u.pk).exists() for u in users)


def test_the_add_forms_breadcrumb_is_its_title(root_client):
    page = root_client.get("/admin/crm/botsource/add/", **RU).content.decode()
    assert "Добавить привязку бота к источнику" in page and "Добавить привязка" not in page


def test_the_permission_pickers_are_translated(root_client):
    group = Group.objects.create(name="leads")
    for url in ("/admin/auth/group/add/", f"/admin/auth/group/{group.pk}/change/"):
        page = root_client.get(url, **RU).content.decode()
        assert "Маршрутизация обращений | оператор | Добавление: оператор" in page
        assert "Can add" not in page and "Can view" not in page
    assert "Can add operator" in root_client.get("/admin/auth/group/add/").content.decode()


def test_the_webhook_forms_labels_start_with_a_capital(root_client):
    page = root_client.get("/admin/crm/webhookendpoint/add/", **RU).content.decode()
    assert "События:" in page and "события:" not in page


def test_a_webhook_delivery_page_names_it_in_the_accusative(root_client, settings):
    from crm.services.webhook_outbox import webhook_send_test
    from crm.services.webhooks import webhook_endpoint_create

    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    endpoint = webhook_endpoint_create(url="http://127.0.0.1:9/hook", events=["contact.registered"]).endpoint
    delivery = webhook_send_test(endpoint_id=endpoint.pk)
    page = root_client.get(f"/admin/crm/webhookdelivery/{delivery.pk}/change/", **RU).content.decode()
    assert "Изменить доставку вебхука" in page and "доставка вебхука</h1>" not in page


def test_an_inlines_add_link_reads_in_russian(root_client):
    import html
    import json
    import re

    source = SourceFactory(name="tg")
    texts = []
    for lang in ("ru", "en"):
        page = root_client.get(f"/admin/crm/source/{source.pk}/change/", HTTP_ACCEPT_LANGUAGE=lang).content.decode()
        [data] = re.findall(r'data-inline-formset="([^"]+)"', page)
        texts.append(json.loads(html.unescape(data))["options"]["addText"])
    # Django's "Добавить еще один Оператор": wrong case for a person, and a capital mid-sentence.
    assert texts == ["Добавить ещё: оператор", "Add another operator"]
