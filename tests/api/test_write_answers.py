"""A write answers with the object only to a caller who may read it: staff who may change
contacts (or operators) but not view them get `{"id": N}`; the change itself is made. The
decision record (operators, weights, loads) needs `view_operator` as well."""

import pytest
from django.contrib.auth.models import Permission

from crm.models import Contact, Operator
from tests.api.conftest import _client_for
from tests.factories import OperatorFactory, OperatorSourceFactory, UserFactory

pytestmark = pytest.mark.django_db


def _staff_with(*codenames):
    user = UserFactory(is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="crm", codename__in=codenames))
    return _client_for(user)


@pytest.fixture
def assigned_contact():
    link = OperatorSourceFactory()
    OperatorSourceFactory(source=link.source)
    client = _staff_with("add_contact", "view_contact")
    body = client.post("/api/v1/contacts/", {"external_id": "a", "source_id": link.source_id}, format="json").json()
    return Contact.objects.get(pk=body["id"])


def test_change_without_view_is_still_403_on_the_detail(assigned_contact):
    client = _staff_with("change_contact")
    assert client.get(f"/api/v1/contacts/{assigned_contact.pk}/").status_code == 403


def test_close_without_view_answers_only_the_id(assigned_contact):
    client = _staff_with("change_contact")
    r = client.post(f"/api/v1/contacts/{assigned_contact.pk}/close/", format="json")
    assert r.status_code == 200 and r.json() == {"id": assigned_contact.pk}
    assert Contact.objects.get(pk=assigned_contact.pk).status == "closed"


def test_reassign_without_view_answers_only_the_id(assigned_contact):
    client = _staff_with("change_contact")
    r = client.post(f"/api/v1/contacts/{assigned_contact.pk}/reassign/", {}, format="json")
    assert r.status_code == 200 and r.json() == {"id": assigned_contact.pk}
    assert Contact.objects.get(pk=assigned_contact.pk).operator_id != assigned_contact.operator_id


def test_close_with_view_answers_the_detail(assigned_contact):
    client = _staff_with("change_contact", "view_contact", "view_operator")
    r = client.post(f"/api/v1/contacts/{assigned_contact.pk}/close/", format="json")
    assert r.status_code == 200 and r.json()["status"] == "closed" and r.json()["assignment"] is not None


@pytest.mark.parametrize("action", ["close", "reassign"])
def test_decision_record_needs_view_operator_too(assigned_contact, action):
    client = _staff_with("change_contact", "view_contact")
    r = client.post(f"/api/v1/contacts/{assigned_contact.pk}/{action}/", {}, format="json")
    assert r.status_code == 200 and r.json()["id"] == assigned_contact.pk and r.json()["assignment"] is None
    detail = client.get(f"/api/v1/contacts/{assigned_contact.pk}/")
    assert detail.status_code == 200 and detail.json()["assignment"] is None


def test_staff_intake_without_view_answers_only_the_id():
    src = OperatorSourceFactory().source
    r = _staff_with("add_contact").post("/api/v1/contacts/", {"external_id": "a", "source_id": src.pk}, format="json")
    assert r.status_code == 201 and r.json() == {"id": Contact.objects.get().pk}


def test_bot_intake_answers_its_contact(bot_client):
    src = OperatorSourceFactory().source
    r = bot_client.post("/api/v1/contacts/", {"external_id": "a", "source_id": src.pk}, format="json")
    assert r.status_code == 201 and r.json()["operator_id"] is not None


def test_operator_change_without_view_answers_only_the_id():
    op = OperatorFactory(max_load=3)
    r = _staff_with("change_operator").patch(f"/api/v1/operators/{op.pk}/", {"max_load": 5}, format="json")
    assert r.status_code == 200 and r.json() == {"id": op.pk}
    assert Operator.objects.get(pk=op.pk).max_load == 5


def test_operator_create_without_view_answers_only_the_id():
    r = _staff_with("add_operator").post("/api/v1/operators/", {"name": "ann"}, format="json")
    assert r.status_code == 201 and r.json() == {"id": Operator.objects.get(name="ann").pk}


def test_statistics_need_view_operator_too():
    OperatorSourceFactory()
    assert _staff_with("view_contact").get("/api/v1/stats/distribution/").status_code == 403
    assert _staff_with("view_contact", "view_operator").get("/api/v1/stats/distribution/").status_code == 200
