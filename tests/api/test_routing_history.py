"""Routing changes made through the API are recorded with who and what."""

import pytest

from crm.models import RoutingChange
from tests.factories import OperatorFactory


@pytest.mark.django_db
def test_api_changes_to_routing_are_recorded_with_who_and_what(staff_client, staff_user):
    op = staff_client.post("/api/v1/operators/", {"name": "ivan", "max_load": 5}, format="json").json()
    src = staff_client.post("/api/v1/sources/", {"name": "tg"}, format="json").json()
    link = staff_client.post(
        "/api/v1/operator-sources/", {"operator_id": op["id"], "source_id": src["id"], "weight": 10}, format="json"
    ).json()
    staff_client.patch(f"/api/v1/operator-sources/{link['id']}", {"weight": 30}, format="json")
    staff_client.patch(f"/api/v1/operators/{op['id']}", {"max_load": 8}, format="json")
    staff_client.patch(f"/api/v1/operators/{op['id']}", {"max_load": 8}, format="json")  # no change: no row
    staff_client.delete(f"/api/v1/operator-sources/{link['id']}")
    history = list(RoutingChange.objects.order_by("id").values_list("actor_id", "action", "object_type", "changes"))
    assert history == [
        (
            staff_user.pk,
            "create",
            "operator",
            {"name": [None, "ivan"], "is_active": [None, True], "max_load": [None, 5]},
        ),
        (
            staff_user.pk,
            "create",
            "source",
            {"name": [None, "tg"], "strategy": [None, "random"], "affinity": [None, False]},
        ),
        (
            staff_user.pk,
            "create",
            "operatorsource",
            {"operator_id": [None, op["id"]], "source_id": [None, src["id"]], "weight": [None, 10]},
        ),
        (staff_user.pk, "update", "operatorsource", {"weight": [10, 30]}),
        (staff_user.pk, "update", "operator", {"max_load": [5, 8]}),
        (
            staff_user.pk,
            "delete",
            "operatorsource",
            {"operator_id": [op["id"], None], "source_id": [src["id"], None], "weight": [30, None]},
        ),
    ]
    assert RoutingChange.objects.filter(actor_name=staff_user.username).count() == 6


@pytest.mark.django_db
def test_refused_change_records_nothing(staff_client):
    op = OperatorFactory(name="ivan")
    r = staff_client.post("/api/v1/operators/", {"name": "IVAN"}, format="json")
    assert r.status_code == 400
    r = staff_client.patch(f"/api/v1/operators/{op.pk}", {"max_load": -1}, format="json")
    assert r.status_code == 400
    assert RoutingChange.objects.count() == 0
