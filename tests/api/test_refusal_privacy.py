"""A refusal never tells the caller what he may not read. Reassigning to a full operator names
him and his load only to a caller who may read operators (`view_operator`); anyone else hears
that this operator cannot take the contact, and the same for an id that does not exist. The
same class on the other write paths: transfers, the routing set-up (capacity, duplicate links,
taken names), the admin's actions. Each refusal leaves the database as it was."""

import pytest
from django.contrib.auth.models import Permission

from crm.models import Contact, Operator, OperatorSource
from crm.services.intake import contact_register
from tests.api.conftest import _client_for
from tests.factories import OperatorFactory, OperatorSourceFactory, SourceFactory, UserFactory
from tests.operator_fixtures import operator_client

pytestmark = pytest.mark.django_db


def _staff_with(*codenames):
    user = UserFactory(is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="crm", codename__in=codenames))
    return _client_for(user)


@pytest.fixture
def full_target(rng):
    """A contact with operator `ann`, and `zoe` on the same source with no room (2 / 2)."""
    source = SourceFactory()
    ann = OperatorFactory(name="ann", max_load=5)
    zoe = OperatorFactory(name="zoe", max_load=2)
    OperatorSourceFactory(operator=ann, source=source)
    OperatorSourceFactory(operator=zoe, source=source, weight=0)
    contact = contact_register(external_id="x", source_id=source.pk, rng=rng)
    for i in range(2):
        other = contact_register(external_id=f"z{i}", source_id=source.pk, rng=rng)
        from crm.services.contacts import contact_reassign

        contact_reassign(contact_id=other.pk, operator_id=zoe.pk)
    assert Contact.objects.get(pk=contact.pk).operator_id == ann.pk
    return {"contact": contact, "ann": ann, "zoe": zoe}


def _leaks(body, *words) -> list[str]:
    text = str(body)
    return [word for word in words if word in text]


def test_reassign_to_a_full_operator_names_him_only_to_who_may_read_operators(full_target):
    contact, zoe = full_target["contact"], full_target["zoe"]
    reader = _staff_with("change_contact", "view_contact", "view_operator")
    r = reader.post(f"/api/v1/contacts/{contact.pk}/reassign/", {"operator_id": zoe.pk}, format="json")
    assert r.status_code == 400 and r.json() == {"operator_id": ["Operator zoe is full (2 / 2)."]}

    blind = _staff_with("change_contact", "view_contact")
    r = blind.post(f"/api/v1/contacts/{contact.pk}/reassign/", {"operator_id": zoe.pk}, format="json")
    assert r.status_code == 400
    assert r.json() == {"operator_id": [f"Operator {zoe.pk} cannot take this contact."]}
    assert Contact.objects.get(pk=contact.pk).operator_id == full_target["ann"].pk
    assert Operator.objects.get(pk=zoe.pk).open_load == 2


def test_an_unknown_operator_reads_like_any_refused_one(full_target):
    contact = full_target["contact"]
    blind = _staff_with("change_contact")
    r = blind.post(f"/api/v1/contacts/{contact.pk}/reassign/", {"operator_id": 9999}, format="json")
    assert r.status_code == 400 and r.json() == {"operator_id": ["Operator 9999 cannot take this contact."]}


def test_an_inactive_or_unlinked_target_is_not_described_either(full_target):
    contact = full_target["contact"]
    Operator.objects.filter(pk=full_target["zoe"].pk).update(is_active=False)
    stranger = OperatorFactory(name="stranger")
    blind = _staff_with("change_contact")
    for target in (full_target["zoe"], stranger):
        r = blind.post(f"/api/v1/contacts/{contact.pk}/reassign/", {"operator_id": target.pk}, format="json")
        assert r.json() == {"operator_id": [f"Operator {target.pk} cannot take this contact."]}
        assert not _leaks(r.json(), target.name, "inactive", "serve")


def test_rerouting_refused_names_the_current_operator_only_to_who_may_read_the_contact(full_target):
    contact, ann = full_target["contact"], full_target["ann"]
    r = _staff_with("change_contact").post(f"/api/v1/contacts/{contact.pk}/reassign/", {}, format="json")
    assert r.status_code == 400
    assert r.json()["detail"] == (
        f"No other operator can take contact {contact.pk} now (all active operators have weight 0)."
    )
    r = _staff_with("change_contact", "view_contact").post(
        f"/api/v1/contacts/{contact.pk}/reassign/", {}, format="json"
    )
    assert r.json()["detail"].endswith(f"it stays with operator {ann.pk}.")
    assert Contact.objects.get(pk=contact.pk).operator_id == ann.pk


def test_an_operators_transfer_refusal_does_not_describe_his_colleague(full_target):
    contact, ann, zoe = full_target["contact"], full_target["ann"], full_target["zoe"]
    r = operator_client(ann).post(f"/api/v1/contacts/{contact.pk}/transfer/", {"operator_id": zoe.pk}, format="json")
    assert r.status_code == 400
    assert r.json() == {"operator_id": [f"Operator {zoe.pk} cannot take this contact."]}
    assert not _leaks(r.json(), "zoe", "2 / 2", "weight")
    assert Contact.objects.get(pk=contact.pk).operator_id == ann.pk


def test_capacity_below_the_load_names_the_load_only_to_who_may_read_operators(full_target):
    zoe = full_target["zoe"]
    r = _staff_with("change_operator").patch(f"/api/v1/operators/{zoe.pk}/", {"max_load": 1}, format="json")
    assert r.status_code == 400
    assert r.json() == {
        "max_load": ["max_load cannot be lower than the operator's open contacts. Close or reassign contacts first."]
    }
    r = _staff_with("change_operator", "view_operator").patch(
        f"/api/v1/operators/{zoe.pk}/", {"max_load": 1}, format="json"
    )
    assert "zoe has 2 open contacts" in r.json()["max_load"][0]
    assert Operator.objects.get(pk=zoe.pk).max_load == 2


def test_a_duplicate_link_shows_its_weight_only_to_who_may_read_links():
    link = OperatorSourceFactory(weight=7)
    body = {"operator_id": link.operator_id, "source_id": link.source_id, "weight": 3}
    r = _staff_with("add_operatorsource").post("/api/v1/operator-sources/", body, format="json")
    assert r.status_code == 400
    assert r.json() == {
        "non_field_errors": [f"Operator {link.operator_id} is already linked to source {link.source_id}."]
    }
    r = _staff_with("add_operatorsource", "view_operatorsource").post("/api/v1/operator-sources/", body, format="json")
    assert f"(link {link.pk}, weight 7)" in r.json()["non_field_errors"][0]
    assert OperatorSource.objects.get().weight == 7


def test_a_taken_name_shows_the_other_row_only_to_who_may_read_it():
    other = OperatorFactory(name="Maria")
    r = _staff_with("add_operator").post("/api/v1/operators/", {"name": "maria", "max_load": 3}, format="json")
    assert r.status_code == 400 and r.json() == {"name": ["An operator named 'maria' already exists."]}
    r = _staff_with("add_operator", "view_operator").post(
        "/api/v1/operators/", {"name": "maria", "max_load": 3}, format="json"
    )
    assert r.json() == {"name": [f"An operator named 'Maria' already exists (id {other.pk})."]}
    assert Operator.objects.count() == 1


def test_the_admins_reassign_action_follows_the_same_rule(client, full_target):
    contact, zoe = full_target["contact"], full_target["zoe"]
    user = UserFactory(is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="crm", codename__in=["view_contact", "change_contact"])
    )
    client.force_login(user)
    response = client.post(
        "/admin/crm/contact/",
        {"action": "reassign_contacts", "_selected_action": [contact.pk], "operator": zoe.pk},
        follow=True,
    )
    page = response.content.decode()
    assert f"#{contact.pk}: Operator {zoe.pk} cannot take this contact." in page
    assert "is full" not in page
    assert Contact.objects.get(pk=contact.pk).operator_id == full_target["ann"].pk
