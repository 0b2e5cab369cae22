"""Every write endpoint answers 400 naming each field it does not accept (unknown or
read-only), with nothing written; the OpenAPI schema says so for every request body."""

import pytest
import yaml

from crm.models import Contact, Lead, Operator, OperatorSource, RoutingChange, Source
from tests.factories import ContactFactory, OperatorFactory, OperatorSourceFactory, SourceFactory

pytestmark = pytest.mark.django_db


def test_intake_with_fields_of_other_crms_is_400_naming_each(bot_client):
    src = SourceFactory()
    payload = {"external_id": "a@x.org", "source_id": src.pk, "lead_name": "Ann", "nonsense": 1}
    r = bot_client.post("/api/v1/contacts/", payload, format="json")
    assert r.status_code == 400
    assert r.json() == {"lead_name": ["Unknown field."], "nonsense": ["Unknown field."]}
    assert not Contact.objects.exists() and not Lead.objects.exists()


def test_unknown_fields_are_reported_with_the_other_errors(bot_client):
    r = bot_client.post("/api/v1/contacts/", {"source_id": "x", "colour": "red"}, format="json")
    assert r.status_code == 400
    assert set(r.json()) == {"external_id", "source_id", "colour"}
    assert not Contact.objects.exists()


def test_read_only_field_in_a_create_is_400(staff_client):
    r = staff_client.post("/api/v1/operators/", {"name": "ann", "current_load": 3}, format="json")
    assert r.status_code == 400
    assert r.json() == {"current_load": ["This field is read-only; leave it out."]}
    assert not Operator.objects.exists() and not RoutingChange.objects.exists()


@pytest.mark.parametrize("method", ["put", "patch"])
def test_operator_update_with_unknown_field_changes_nothing(staff_client, method):
    op = OperatorFactory(name="ann", max_load=5)
    r = getattr(staff_client, method)(
        f"/api/v1/operators/{op.pk}/", {"name": "bob", "max_load": 7, "maxload": 9}, format="json"
    )
    assert r.status_code == 400 and r.json() == {"maxload": ["Unknown field."]}
    op.refresh_from_db()
    assert (op.name, op.max_load) == ("ann", 5)


def test_source_create_with_unknown_field_is_400(staff_client):
    r = staff_client.post("/api/v1/sources/", {"name": "tg", "stratgy": "smooth"}, format="json")
    assert r.status_code == 400 and r.json() == {"stratgy": ["Unknown field."]}
    assert not Source.objects.exists()


def test_weight_update_with_unknown_field_changes_nothing(staff_client):
    link = OperatorSourceFactory(weight=10)
    r = staff_client.patch(f"/api/v1/operator-sources/{link.pk}/", {"weight": 3, "wieght": 4}, format="json")
    assert r.status_code == 400 and r.json() == {"wieght": ["Unknown field."]}
    assert OperatorSource.objects.get(pk=link.pk).weight == 10


def test_close_takes_no_fields(staff_client):
    link = OperatorSourceFactory()
    contact = ContactFactory(source=link.source)
    r = staff_client.post(f"/api/v1/contacts/{contact.pk}/close/", {"reason": "spam"}, format="json")
    assert r.status_code == 400 and r.json() == {"reason": ["Unknown field."]}
    assert Contact.objects.get(pk=contact.pk).status == "open"


def test_reassign_with_unknown_field_moves_nothing(staff_client):
    first = OperatorSourceFactory()
    second = OperatorSourceFactory(source=first.source)
    contact = ContactFactory(source=first.source)
    r = staff_client.post(f"/api/v1/contacts/{contact.pk}/reassign/", {"operator": second.operator_id}, format="json")
    assert r.status_code == 400 and r.json() == {"operator": ["Unknown field."]}
    assert Contact.objects.get(pk=contact.pk).operator_id is None


def test_schema_closes_every_request_body(anon_client):
    schema = yaml.safe_load(anon_client.get("/api/schema/").content)
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody")
            if body is None:
                continue
            ref = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
            component = schema["components"]["schemas"][ref]
            assert component.get("additionalProperties") is False, (method, path, ref)
