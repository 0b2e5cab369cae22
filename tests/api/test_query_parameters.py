"""One rule for every query parameter: unknown, repeated or empty is a 400 naming it."""

import pytest

from tests.factories import ContactFactory, SourceFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("query", "name", "message"),
    [
        ("page_size=1&page_size=2", "page_size", "Give this parameter at most once."),
        ("cursor=a&cursor=b", "cursor", "Give this parameter at most once."),
        ("page_size=", "page_size", "This parameter may not be empty; leave it out instead."),
        ("source=1&source=2", "source", "Give this parameter at most once."),
        ("sourse=1", "sourse", "Unknown query parameter."),
        ("phone=123", "phone", "Unknown query parameter."),
    ],
)
def test_contact_list_parameters(staff_client, query, name, message):
    ContactFactory()
    r = staff_client.get(f"/api/v1/contacts/?{query}")
    assert r.status_code == 400
    assert r.json() == {name: [message]}


def test_every_fault_is_named_at_once(staff_client):
    r = staff_client.get("/api/v1/contacts/?page_size=1&page_size=2&colour=red&status=")
    assert r.status_code == 400 and set(r.json()) == {"page_size", "colour", "status"}


def test_detail_takes_no_parameters(staff_client):
    contact = ContactFactory()
    assert staff_client.get(f"/api/v1/contacts/{contact.pk}/").status_code == 200
    r = staff_client.get(f"/api/v1/contacts/{contact.pk}/?expand=lead")
    assert r.status_code == 400 and r.json() == {"expand": ["Unknown query parameter."]}


def test_stats_parameters(staff_client):
    src = SourceFactory()
    assert staff_client.get(f"/api/v1/stats/distribution/?source={src.pk}").status_code == 200
    r = staff_client.get("/api/v1/stats/distribution/?source_id=1")
    assert r.status_code == 400 and r.json() == {"source_id": ["Unknown query parameter."]}


def test_anonymous_hears_401_before_parameter_errors(anon_client):
    assert anon_client.get("/api/v1/contacts/?page_size=1&page_size=2").status_code == 401


def test_write_with_query_parameter_is_400_and_writes_nothing(bot_client):
    src = SourceFactory()
    r = bot_client.post(
        f"/api/v1/contacts/?source_id={src.pk}", {"external_id": "a", "source_id": src.pk}, format="json"
    )
    assert r.status_code == 400 and r.json() == {"source_id": ["Unknown query parameter."]}
    assert not src.contacts.exists()


def test_undeclared_method_is_405_whatever_the_parameters(staff_client):
    r = staff_client.put("/api/v1/leads/?cursor=&page_size=1", {}, format="json")
    assert r.status_code == 405
