"""The operator ↔ source weight inlines (crm/admin/weights.py): each row is created, changed or
deleted through the services, recorded in the routing history with who did it, and what they
refuse is not saved."""

import pytest

from crm.models import Operator, OperatorSource, RoutingChange
from crm.services import routing_config
from tests.admin.helpers import form_errors, links_formset
from tests.factories import OperatorFactory, OperatorSourceFactory, SourceFactory

pytestmark = pytest.mark.django_db


def test_weight_above_maximum_is_refused_on_the_inline(admin_client):
    src = SourceFactory()
    data = {"name": "x", "max_load": "3"} | links_formset([{"source": src.pk, "weight": 1001}])
    response = admin_client.post("/admin/crm/operator/add/", data)
    assert response.status_code == 200
    assert not Operator.objects.exists() and not OperatorSource.objects.exists()


def test_source_weights_are_added_changed_and_removed_through_services(admin_client, monkeypatch):
    src = SourceFactory(name="tg")
    ivan, maria, oleg = OperatorFactory(name="ivan"), OperatorFactory(name="maria"), OperatorFactory(name="oleg")
    keep = OperatorSourceFactory(operator=ivan, source=src, weight=10)
    drop = OperatorSourceFactory(operator=maria, source=src, weight=10)
    called = []
    for name in ("link_create", "link_update", "link_delete"):
        original = getattr(routing_config, name)
        monkeypatch.setattr(
            routing_config, name, lambda _orig=original, _name=name, **kw: called.append(_name) or _orig(**kw)
        )
    rows = [
        {"id": keep.pk, "source": src.pk, "operator": ivan.pk, "weight": 30},
        {"id": drop.pk, "source": src.pk, "operator": maria.pk, "weight": 10, "DELETE": "on"},
        {"source": src.pk, "operator": oleg.pk, "weight": 5},
    ]
    response = admin_client.post(
        f"/admin/crm/source/{src.pk}/change/", {"name": "tg", "strategy": "random"} | links_formset(rows, initial=2)
    )
    assert response.status_code == 302, form_errors(response)
    assert sorted(called) == ["link_create", "link_delete", "link_update"]
    weights = dict(OperatorSource.objects.filter(source=src).values_list("operator__name", "weight"))
    assert weights == {"ivan": 30, "oleg": 5}


def test_an_existing_link_keeps_its_operator(admin_client):
    src = SourceFactory()
    ivan, maria = OperatorFactory(), OperatorFactory()
    link = OperatorSourceFactory(operator=ivan, source=src, weight=10)
    rows = [{"id": link.pk, "source": src.pk, "operator": maria.pk, "weight": 11}]
    response = admin_client.post(
        f"/admin/crm/source/{src.pk}/change/", {"name": src.name, "strategy": "random"} | links_formset(rows, initial=1)
    )
    assert response.status_code == 302
    link.refresh_from_db()
    assert (link.operator_id, link.weight) == (ivan.pk, 11)


def test_a_link_that_exists_already_is_refused(admin_client):
    src = SourceFactory()
    op = OperatorFactory()
    OperatorSourceFactory(operator=op, source=src, weight=10)
    rows = [{"source": src.pk, "operator": op.pk, "weight": 5}]
    response = admin_client.post(
        f"/admin/crm/source/{src.pk}/change/", {"name": src.name, "strategy": "random"} | links_formset(rows)
    )
    assert response.status_code == 200
    assert OperatorSource.objects.get().weight == 10


def test_admin_weight_edits_are_recorded(admin_client, staff_user):
    link = OperatorSourceFactory(weight=10)
    op = link.operator
    data = {
        "name": op.name,
        "is_active": "on",
        "max_load": op.max_load,
        "links-TOTAL_FORMS": "1",
        "links-INITIAL_FORMS": "1",
        "links-MIN_NUM_FORMS": "0",
        "links-MAX_NUM_FORMS": "1000",
        "links-0-id": link.pk,
        "links-0-operator": op.pk,
        "links-0-source": link.source_id,
        "links-0-weight": "25",
    }
    r = admin_client.post(f"/admin/crm/operator/{op.pk}/change/", data)
    assert r.status_code == 302, r.content.decode()[:2000]
    link.refresh_from_db()
    assert link.weight == 25
    change = RoutingChange.objects.get(object_type="operatorsource")
    assert (change.actor_id, change.changes) == (staff_user.pk, {"weight": [10, 25]})
    assert admin_client.get("/admin/crm/routingchange/").status_code == 200
