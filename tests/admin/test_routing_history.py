"""Routing changes made in the admin are recorded with who and what."""

import pytest

from crm.models import RoutingChange
from tests.factories import OperatorSourceFactory


@pytest.mark.django_db
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
