"""Contacts and leads over HTTP: intake by bots, reads and closing by staff."""

import pytest

from crm.models import Contact, Lead, Operator
from crm.services.intake import contact_register
from tests.factories import ContactFactory, LeadFactory, OperatorFactory, OperatorSourceFactory, SourceFactory

pytestmark = pytest.mark.django_db


def test_bot_registers_contact_seed_payload(bot_client):
    link = OperatorSourceFactory()
    r = bot_client.post(
        "/api/v1/contacts/", {"external_id": "user@example.com", "source_id": link.source_id}, format="json"
    )
    assert r.status_code == 201, r.json()
    body = r.json()
    assert {"id", "lead_id", "source_id", "operator_id", "status", "created_at"} <= body.keys()
    assert body["operator_id"] == link.operator_id and body["status"] == "open"
    contact = Contact.objects.get(pk=body["id"])
    assert contact.lead.external_id == "user@example.com" and contact.operator_id == link.operator_id


def test_intake_without_trailing_slash(bot_client):
    src = SourceFactory()
    r = bot_client.post("/api/v1/contacts", {"external_id": "a", "source_id": src.pk}, format="json")
    assert r.status_code == 201
    assert r.json()["operator_id"] is None and r.json()["unassigned_reason"] == "no_operators"


def test_staff_may_register_contacts_too(staff_client):
    src = SourceFactory()
    r = staff_client.post("/api/v1/contacts/", {"external_id": "a", "source_id": src.pk}, format="json")
    assert r.status_code == 201


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"external_id": "", "source_id": "SRC"}, "external_id"),
        ({"external_id": "   ", "source_id": "SRC"}, "external_id"),
        ({"external_id": "x" * 10_000, "source_id": "SRC"}, "external_id"),
        ({"external_id": None, "source_id": "SRC"}, "external_id"),
        ({"external_id": ["a"], "source_id": "SRC"}, "external_id"),
        ({"external_id": "a\x00", "source_id": "SRC"}, "external_id"),
        ({"source_id": "SRC"}, "external_id"),
        ({"external_id": "a", "source_id": 999_999}, "source_id"),
        ({"external_id": "a", "source_id": "one"}, "source_id"),
        ({"external_id": "a", "source_id": -1}, "source_id"),
        ({"external_id": "a", "source_id": 10**40}, "source_id"),
        ({"external_id": "a", "source_id": True}, "source_id"),
        ({"external_id": "a"}, "source_id"),
    ],
)
def test_bad_intake_is_400_naming_field_and_writes_nothing(bot_client, payload, field):
    src = SourceFactory()
    body = {k: (src.pk if v == "SRC" else v) for k, v in payload.items()}
    r = bot_client.post("/api/v1/contacts/", body, format="json")
    assert r.status_code == 400, r.content
    assert field in r.json()
    assert Lead.objects.count() == 0 and Contact.objects.count() == 0


def test_lone_surrogate_in_external_id_is_400(bot_client):
    src = SourceFactory()
    raw = '{"external_id": "a\\ud800", "source_id": ' + str(src.pk) + "}"
    r = bot_client.generic("POST", "/api/v1/contacts/", raw, content_type="application/json")
    assert r.status_code == 400 and "external_id" in r.json()
    assert Lead.objects.count() == 0


def test_intake_malformed_json_is_400(bot_client):
    r = bot_client.generic("POST", "/api/v1/contacts/", '{"external_id": "a",', content_type="application/json")
    assert r.status_code == 400
    r = bot_client.post("/api/v1/contacts/", ["a", 1], format="json")
    assert r.status_code == 400
    assert Contact.objects.count() == 0


def test_intake_wrong_content_type_is_415(bot_client):
    r = bot_client.generic(
        "POST", "/api/v1/contacts/", "external_id=a", content_type="application/x-www-form-urlencoded"
    )
    assert r.status_code == 415


def test_staff_lists_and_filters_contacts(staff_client):
    a, b = OperatorSourceFactory(), OperatorSourceFactory()
    c1 = contact_register(external_id="one", source_id=a.source_id)
    c2 = contact_register(external_id="two", source_id=b.source_id)
    waiting = contact_register(external_id="three", source_id=SourceFactory().pk)
    ids = lambda r: [c["id"] for c in r.json()["results"]]  # noqa: E731
    assert ids(staff_client.get("/api/v1/contacts/")) == [waiting.pk, c2.pk, c1.pk]
    assert ids(staff_client.get(f"/api/v1/contacts/?source={a.source_id}")) == [c1.pk]
    assert ids(staff_client.get(f"/api/v1/contacts/?operator={b.operator_id}")) == [c2.pk]
    assert ids(staff_client.get(f"/api/v1/contacts/?lead={c1.lead_id}")) == [c1.pk]
    assert ids(staff_client.get("/api/v1/contacts/?unassigned=true")) == [waiting.pk]
    assert ids(staff_client.get("/api/v1/contacts/?unassigned=false")) == [c2.pk, c1.pk]
    assert ids(staff_client.get("/api/v1/contacts/?status=closed")) == []
    assert ids(staff_client.get("/api/v1/contacts/?operator=424242")) == []


@pytest.mark.parametrize(
    "query",
    ["status=bogus", "source=abc", "operator=-3", "lead=1.5", "unassigned=maybe", "source=99999999999999999999999"],
)
def test_bad_filter_is_400(staff_client, query):
    r = staff_client.get(f"/api/v1/contacts/?{query}")
    assert r.status_code == 400
    assert query.split("=")[0] in r.json()


def test_contact_detail_and_unknown_is_404(staff_client):
    contact = ContactFactory()
    r = staff_client.get(f"/api/v1/contacts/{contact.pk}")
    assert r.status_code == 200 and r.json()["lead_id"] == contact.lead_id
    assert staff_client.get("/api/v1/contacts/987654/").status_code == 404


def test_close_frees_capacity(staff_client):
    link = OperatorSourceFactory(operator=OperatorFactory(max_load=1))
    contact = contact_register(external_id="one", source_id=link.source_id)
    r = staff_client.post(f"/api/v1/contacts/{contact.pk}/close/")
    assert r.status_code == 200 and r.json()["status"] == "closed" and r.json()["closed_at"]
    assert Operator.objects.get(pk=link.operator_id).open_load == 0
    assert staff_client.post(f"/api/v1/contacts/{contact.pk}/close").status_code == 200
    assert staff_client.post("/api/v1/contacts/424242/close/").status_code == 404


def test_bot_cannot_close_or_read_others_contacts(bot_client):
    link = OperatorSourceFactory()
    contact = contact_register(external_id="one", source_id=link.source_id)
    assert bot_client.post(f"/api/v1/contacts/{contact.pk}/close/").status_code == 403
    # Not registered by this bot: as if it did not exist.
    assert bot_client.get(f"/api/v1/contacts/{contact.pk}").status_code == 404
    assert bot_client.get("/api/v1/contacts/").json()["results"] == []
    assert Contact.objects.get(pk=contact.pk).status == "open"


def test_leads_list_detail_and_filter(staff_client):
    src = SourceFactory()
    first = contact_register(external_id="Ann@X.org", source_id=src.pk)
    contact_register(external_id="ann@x.org ", source_id=src.pk)
    LeadFactory(external_id="bob")
    r = staff_client.get("/api/v1/leads/")
    assert [lead["external_id"] for lead in r.json()["results"]] == ["bob", "ann@x.org"]
    r = staff_client.get("/api/v1/leads/?external_id=  ANN@x.ORG")
    assert [lead["id"] for lead in r.json()["results"]] == [first.lead_id]
    r = staff_client.get(f"/api/v1/leads/{first.lead_id}")
    assert r.status_code == 200
    assert len(r.json()["contacts"]) == 2 and r.json()["contacts"][1]["id"] == first.pk
    assert staff_client.get("/api/v1/leads/424242").status_code == 404


def test_lead_detail_contacts_are_bounded(staff_client, settings):
    from crm import selectors

    src = SourceFactory()
    lead = LeadFactory()
    for _ in range(selectors.LEAD_RECENT_CONTACTS + 5):
        ContactFactory(lead=lead, source=src)
    r = staff_client.get(f"/api/v1/leads/{lead.pk}")
    assert len(r.json()["contacts"]) == selectors.LEAD_RECENT_CONTACTS


def test_contact_list_query_count_does_not_grow(staff_client, django_assert_max_num_queries):
    src = SourceFactory()
    for _ in range(30):
        ContactFactory(source=src)
    # token+user, the user's and his groups' permissions, one page query: not one per row.
    with django_assert_max_num_queries(4):
        r = staff_client.get("/api/v1/contacts/?page_size=30")
    assert len(r.json()["results"]) == 30


def test_bad_cursor_is_400(staff_client):
    r = staff_client.get("/api/v1/contacts/?cursor=not-a-cursor")
    assert r.status_code == 400 and "cursor" in r.json()


def test_close_over_http_hands_the_oldest_waiting_contact_to_the_freed_operator(staff_client, bot_client):
    link = OperatorSourceFactory(operator=OperatorFactory(max_load=1))
    ids = [
        bot_client.post(
            "/api/v1/contacts/", {"external_id": f"c{i}", "source_id": link.source_id}, format="json"
        ).json()["id"]
        for i in range(3)
    ]
    assert Contact.objects.filter(operator__isnull=True).count() == 2
    r = staff_client.post(f"/api/v1/contacts/{ids[0]}/close/")
    assert r.status_code == 200
    assert Contact.objects.get(pk=ids[1]).operator_id == link.operator_id
    assert Contact.objects.get(pk=ids[2]).operator_id is None
    assert Operator.objects.get(pk=link.operator_id).open_load == 1


@pytest.mark.parametrize("position", ["abc", "1\x00", "-5", "99999999999999999999999"])
def test_forged_cursor_position_is_400(staff_client, position):
    import base64
    from urllib.parse import quote

    cursor = base64.b64encode(f"p={quote(position)}".encode()).decode()
    r = staff_client.get("/api/v1/contacts/", {"cursor": cursor})
    assert r.status_code == 400 and "cursor" in r.json()


def test_deeply_nested_json_is_400(bot_client):
    body = "[" * 20000 + "]" * 20000
    r = bot_client.generic("POST", "/api/v1/contacts/", body, content_type="application/json")
    assert r.status_code == 400
    assert Contact.objects.count() == 0
