"""The API of lead profiles, messages and metadata, and the lead search: status, body and
database state for bot and staff callers."""

import pytest

from crm.models import Contact, Lead
from tests.factories import LeadFactory, OperatorSourceFactory

pytestmark = pytest.mark.django_db

FULL = {
    "name": "Anna Petrova",
    "phone": "+7 (912) 345-67-89",
    "email": "Anna@Example.com",
    "message": "Hello! Is the blue sofa still available?",
    "metadata": {"utm_source": "newsletter", "chat_id": 48151623, "vip": False, "referrer": None},
}


def _post(client, **body):
    return client.post("/api/v1/contacts/", body, format="json")


def test_intake_answers_with_the_message_and_metadata_and_stores_the_profile(bot_client):
    link = OperatorSourceFactory()
    r = _post(bot_client, external_id="tg:1", source_id=link.source_id, **FULL)
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["message"] == FULL["message"] and body["metadata"] == FULL["metadata"]
    contact = Contact.objects.get(pk=body["id"])
    assert (contact.message, contact.metadata) == (FULL["message"], FULL["metadata"])
    lead = Lead.objects.get()
    assert (lead.name, lead.phone, lead.email) == ("Anna Petrova", "+79123456789", "anna@example.com")


def test_bot_reads_back_its_contact_with_message_and_metadata(bot_client):
    link = OperatorSourceFactory()
    contact_id = _post(bot_client, external_id="tg:1", source_id=link.source_id, **FULL).json()["id"]
    r = bot_client.get(f"/api/v1/contacts/{contact_id}/")
    assert r.status_code == 200
    assert r.json()["message"] == FULL["message"] and r.json()["metadata"] == FULL["metadata"]
    listed = bot_client.get("/api/v1/contacts/").json()["results"]
    assert [c["message"] for c in listed] == [FULL["message"]]


def test_another_bot_does_not_see_the_contact_nor_any_lead(bot_client, db):
    from rest_framework.test import APIClient

    from crm.services.accounts import bot_create

    link = OperatorSourceFactory()
    contact_id = _post(bot_client, external_id="tg:1", source_id=link.source_id, **FULL).json()["id"]
    _, key = bot_create(name="other_bot")
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert other.get(f"/api/v1/contacts/{contact_id}/").status_code == 404
    assert other.get("/api/v1/contacts/").json()["results"] == []
    assert other.get("/api/v1/leads/").status_code == 403
    assert bot_client.get(f"/api/v1/leads/{Lead.objects.get().pk}/").status_code == 403


def test_fields_are_optional_and_an_empty_value_keeps_the_profile(bot_client):
    link = OperatorSourceFactory()
    assert _post(bot_client, external_id="tg:1", source_id=link.source_id, **FULL).status_code == 201
    r = _post(bot_client, external_id="TG:1", source_id=link.source_id, name="", phone="", email="", message="")
    assert r.status_code == 201, r.content
    assert r.json()["message"] == "" and r.json()["metadata"] == {}
    lead = Lead.objects.get()
    assert (lead.name, lead.phone, lead.email) == ("Anna Petrova", "+79123456789", "anna@example.com")
    r = _post(bot_client, external_id="tg:1", source_id=link.source_id, name="Anna P.", phone="+44 20 7946 0958")
    lead.refresh_from_db()
    assert (lead.name, lead.phone, lead.email) == ("Anna P.", "+442079460958", "anna@example.com")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "x" * 201),
        ("name", 12),
        ("name", "a\x00b"),
        ("phone", "x" * 33),
        ("phone", "not a phone"),
        ("phone", "12345"),
        ("phone", 79123456789),
        ("email", "nobody"),
        ("email", "x" * 250 + "@x.org"),
        ("message", "x" * 4001),
        ("message", ["hello"]),
        ("metadata", "utm=ads"),
        ("metadata", None),
        ("metadata", {"nested": {"a": 1}}),
        ("metadata", {"list": [1]}),
        ("metadata", {"k": "x" * 4096}),
        ("metadata", {"nul": "a\x00"}),
    ],
)
def test_bad_field_is_400_naming_it_and_writes_nothing(bot_client, field, value):
    link = OperatorSourceFactory()
    r = _post(bot_client, external_id="tg:1", source_id=link.source_id, **{field: value})
    assert r.status_code == 400, r.content
    assert field in r.json()
    assert Lead.objects.count() == 0 and Contact.objects.count() == 0


def test_lead_list_and_detail_show_the_profile(staff_client, bot_client):
    link = OperatorSourceFactory()
    _post(bot_client, external_id="tg:1", source_id=link.source_id, **FULL)
    lead = Lead.objects.get()
    listed = staff_client.get("/api/v1/leads/").json()["results"]
    assert listed == [
        {
            "id": lead.pk,
            "external_id": "tg:1",
            "name": "Anna Petrova",
            "phone": "+79123456789",
            "email": "anna@example.com",
            "first_seen_at": lead.created_at.isoformat().replace("+00:00", "Z"),
            "last_seen_at": lead.last_seen_at.isoformat().replace("+00:00", "Z"),
            "created_at": lead.created_at.isoformat().replace("+00:00", "Z"),
        }
    ]
    detail = staff_client.get(f"/api/v1/leads/{lead.pk}/").json()
    assert detail["name"] == "Anna Petrova" and detail["phone"] == "+79123456789"
    assert detail["contacts"][0]["message"] == FULL["message"]


# --- search ----------------------------------------------------------------------------------


@pytest.fixture
def people(db):
    return {
        "anna": LeadFactory(
            external_id="tg:1001", name="Anna Petrova", name_search=" anna petrova ", phone="+79123456789"
        ),
        "boris": LeadFactory(external_id="boris@example.com", name="Борис", name_search=" борис ", email="b@mail.ru"),
        "carl": LeadFactory(external_id="wa:555", phone="+442079460958", email="carl@example.org"),
    }


def _search(client, term) -> set[str]:
    r = client.get("/api/v1/leads/", {"search": term})
    assert r.status_code == 200, r.content
    return {row["external_id"] for row in r.json()["results"]}


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("TG:1001", {"tg:1001"}),  # external id, any case, any part
        ("1001", {"tg:1001"}),
        ("petrova", {"tg:1001"}),  # name: whole words in any order...
        ("petrova anna", {"tg:1001"}),
        ("ANNA p", {"tg:1001"}),  # ...or its beginning
        ("anna petr", {"tg:1001"}),
        ("petr", set()),  # not the beginning of a later word alone
        ("etrova", set()),
        ("anna ivanova", set()),
        ("БОРИС", {"boris@example.com"}),  # not only ASCII letters fold
        ("b@mail", {"boris@example.com"}),  # email: its beginning
        ("CARL@Example", {"wa:555"}),
        ("example.org", set()),
        ("+7 (912) 345-67-89", {"tg:1001"}),  # a phone in any usual format: its beginning...
        ("+7 912", {"tg:1001"}),
        ("345-67-89", {"tg:1001"}),  # ...or its end
        ("7946 0958", {"wa:555"}),
        ("8 912 345-67-89", set()),  # national format without a default region
        ("020 7946 0958", set()),
        ("example", {"boris@example.com"}),
        ("nobody", set()),
        ("wa", set()),  # shorter than 3 characters: exact external id only
        ("%", set()),  # LIKE wildcards are plain characters
        ("___", set()),
    ],
)
def test_search_covers_external_id_name_phone_and_email(staff_client, people, term, expected):
    assert _search(staff_client, term) == expected


def test_search_finds_a_national_number_with_the_default_region(staff_client, people, settings):
    settings.PHONE_DEFAULT_REGION = "RU"
    assert _search(staff_client, "8 912 345-67-89") == {"tg:1001"}
    settings.PHONE_DEFAULT_REGION = "GB"
    assert _search(staff_client, "020 7946 0958") == {"wa:555"}


def test_search_given_twice_empty_or_too_long_is_400(staff_client, people):
    assert staff_client.get("/api/v1/leads/?search=anna&search=boris").status_code == 400
    assert staff_client.get("/api/v1/leads/?search=").status_code == 400
    assert staff_client.get("/api/v1/leads/", {"search": "x" * 256}).status_code == 400
    assert staff_client.get("/api/v1/leads/", {"search": "a\x00b"}).status_code == 400


def test_search_is_staff_only(bot_client, anon_client, people):
    assert bot_client.get("/api/v1/leads/", {"search": "anna"}).status_code == 403
    assert anon_client.get("/api/v1/leads/", {"search": "anna"}).status_code == 401
