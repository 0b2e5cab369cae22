"""Sources in the admin: created and changed through the services, their weights' shares and
waiting contacts on the list and the page."""

import pytest

from crm.models import OperatorSource, Source
from crm.services import routing_config
from tests.admin.helpers import form_errors, links_formset
from tests.factories import ContactFactory, OperatorFactory, OperatorSourceFactory, SourceFactory

pytestmark = pytest.mark.django_db


def test_source_is_created_with_operators(admin_client):
    op = OperatorFactory(name="ivan")
    data = {"name": "telegram_bot_A", "strategy": "smooth", "affinity": "on"} | links_formset(
        [{"operator": op.pk, "weight": 20}]
    )
    response = admin_client.post("/admin/crm/source/add/", data)
    assert response.status_code == 302, form_errors(response)
    src = Source.objects.get()
    assert (src.name, src.strategy, src.affinity) == ("telegram_bot_A", "smooth", True)
    assert OperatorSource.objects.filter(source=src, operator=op, weight=20).exists()


def test_source_list_shows_weights_shares_and_waiting(admin_client, rng):
    src = SourceFactory(name="tg")
    OperatorSourceFactory(operator=OperatorFactory(name="ivan"), source=src, weight=30)
    OperatorSourceFactory(operator=OperatorFactory(name="maria", is_active=False), source=src, weight=10)
    ContactFactory(source=src)  # waiting
    page = admin_client.get("/admin/crm/source/").content.decode()
    # The inactive operator gets no share: the active one has it all, and he is marked inactive.
    assert "ivan: 30 (100.0 %)" in page
    assert 'maria: 10 <span class="crm-badge crm-inactive">inactive</span>' in page
    [row] = admin_client.get("/admin/crm/source/").context["cl"].result_list
    assert row.waiting == 1


def test_source_page_shows_each_weights_share(admin_client):
    src = SourceFactory()
    OperatorSourceFactory(source=src, weight=1)
    OperatorSourceFactory(source=src, weight=3)
    page = admin_client.get(f"/admin/crm/source/{src.pk}/change/").content.decode()
    assert "25.0 %" in page and "75.0 %" in page


def test_source_strategy_and_affinity_change_through_the_service(admin_client, monkeypatch):
    src = SourceFactory(name="tg")
    calls = []
    original = routing_config.source_update
    monkeypatch.setattr(routing_config, "source_update", lambda **kw: calls.append(kw) or original(**kw))
    data = {"name": "tg", "strategy": "smooth", "affinity": "on"} | links_formset([])
    assert admin_client.post(f"/admin/crm/source/{src.pk}/change/", data).status_code == 302
    assert calls == [{"source_id": src.pk, "name": "tg", "strategy": "smooth", "affinity": True}]
    src.refresh_from_db()
    assert (src.strategy, src.affinity) == ("smooth", True)
