"""Erasure of a lead's personal data: what goes, what stays, and that no trace of the erased
values is left anywhere in the database."""

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import connection

from crm.errors import NotFoundError
from crm.models import ActorKind, Contact, Event, EventType, IdempotencyKey, Lead, Operator
from crm.selectors import distribution_stats
from crm.services.contacts import contact_close
from crm.services.lead_erasure import ERASED_EXTERNAL_ID_PREFIX, lead_erase, lead_find
from tests.factories import OperatorFactory, OperatorSourceFactory, UserFactory

pytestmark = pytest.mark.django_db

SECRETS = {
    "external_id": "Secret-Ext-4711",
    "name": "Zinaida Secretova",
    "phone": "+7 912 345-67-89",
    "email": "Zina.Secret@Example.com",
    "message": "my-private-message-text",
    "metadata": {"crm_private_key": "private-meta-value"},
}
# How each value is stored (normalised), and pieces of it a careless copy would keep.
NEEDLES = [
    "secret-ext-4711",
    "Secret-Ext-4711",
    "zinaida",
    "Zinaida",
    "secretova",
    "79123456789",
    "zina.secret",
    "my-private-message",
    "private-meta-value",
    "crm_private_key",
]


def _traces(needles) -> list[str]:
    """Every column of every table in the database (not only the models': the cache table,
    sessions, the admin log...), read as text, searched for each needle."""
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            columns = [c.name for c in connection.introspection.get_table_description(cursor, table)]
            for column in columns:
                quoted = f"CAST({connection.ops.quote_name(column)} AS TEXT)"
                condition = " OR ".join(f"{quoted} LIKE %s" for _ in needles)
                cursor.execute(
                    f"SELECT {quoted} FROM {connection.ops.quote_name(table)} WHERE {condition}",
                    [f"%{needle}%" for needle in needles],
                )
                found += [f"{table}.{column}: {str(value)[:120]}" for (value,) in cursor.fetchall()]
    return found


@pytest.fixture
def registered(bot_client):
    """Two contacts of the lead (one with an Idempotency-Key), one of another lead, one closed."""
    link = OperatorSourceFactory(operator=OperatorFactory(max_load=10))
    first = bot_client.post(
        "/api/v1/contacts/",
        {"source_id": link.source_id, **SECRETS},
        format="json",
        HTTP_IDEMPOTENCY_KEY="retry-key-1",
    )
    assert first.status_code == 201, first.content
    second = bot_client.post(
        "/api/v1/contacts/",
        {"external_id": " SECRET-EXT-4711 ", "source_id": link.source_id, "message": "second my-private-message"},
        format="json",
    )
    other = bot_client.post(
        "/api/v1/contacts/",
        {"external_id": "someone-else", "source_id": link.source_id, "name": "Other Person", "message": "keep me"},
        format="json",
    )
    contact_close(contact_id=second.json()["id"])
    # The admin's own history names the objects it touched.
    staff = UserFactory(is_staff=True)
    lead = Lead.objects.get(external_id="secret-ext-4711")
    for obj in (lead, Contact.objects.get(pk=first.json()["id"])):
        LogEntry.objects.log_actions(
            user_id=staff.pk, queryset=[obj], action_flag=CHANGE, change_message="Closed.", single_object=True
        )
    return {"link": link, "lead": lead, "first": first.json(), "second": second.json(), "other": other.json()}


def test_the_values_are_in_the_database_before_erasure(registered):
    # The trace search sees them where they are stored: the check below is not vacuous.
    found = "\n".join(_traces(NEEDLES))
    for where in ("crm_lead.name", "crm_lead.phone", "crm_lead.email", "crm_contact.message", "crm_contact.metadata"):
        assert where in found
    assert "crm_idempotencykey.response_body" in found and "django_admin_log.object_repr" in found


def test_erasure_leaves_no_trace_of_the_erased_values(registered):
    erasure = lead_erase(lead_id=registered["lead"].pk)
    assert (erasure.contacts, erasure.idempotency_keys) == (2, 1)
    assert _traces(NEEDLES) == []


def test_erasure_blanks_profile_and_messages_and_keeps_contacts_and_statistics(registered):
    lead = registered["lead"]
    contacts_before = list(
        Contact.objects.order_by("id").values_list("id", "lead_id", "source_id", "operator_id", "status", "created_at")
    )
    stats_before = distribution_stats()
    loads_before = list(Operator.objects.values_list("id", "open_load"))
    lead_erase(lead_id=lead.pk)
    lead.refresh_from_db()
    assert lead.external_id.startswith(ERASED_EXTERNAL_ID_PREFIX) and len(lead.external_id) == 39
    assert (lead.name, lead.name_search, lead.phone, lead.email) == ("", "", "", "")
    assert lead.erased_at is not None
    assert list(Contact.objects.filter(lead=lead).values_list("message", "metadata")) == [("", {}), ("", {})]
    # The other lead is untouched; contacts, operators, loads and statistics are unchanged.
    other = Contact.objects.get(pk=registered["other"]["id"])
    assert other.message == "keep me" and other.lead.name == "Other Person"
    assert (
        list(
            Contact.objects.order_by("id").values_list(
                "id", "lead_id", "source_id", "operator_id", "status", "created_at"
            )
        )
        == contacts_before
    )
    assert distribution_stats() == stats_before
    assert list(Operator.objects.values_list("id", "open_load")) == loads_before


def test_erasure_is_recorded_with_who_and_when_but_not_the_values(registered):
    staff = UserFactory(is_staff=True, username="dpo")
    before = Event.objects.count()
    lead_erase(lead_id=registered["lead"].pk, actor=staff)
    record = Event.objects.get(type=EventType.LEAD_ERASED)
    assert Event.objects.count() == before + 1
    assert (record.actor_kind, record.actor_user, record.contact_id, record.operator_id) == (
        ActorKind.STAFF,
        staff,
        None,
        None,
    )
    assert record.occurred_at is not None
    assert record.data == {"lead_id": registered["lead"].pk, "contacts": 2}


def test_the_old_external_id_registers_as_a_new_lead(registered, bot_client):
    lead_erase(lead_id=registered["lead"].pk)
    r = bot_client.post(
        "/api/v1/contacts/",
        {"external_id": "secret-ext-4711", "source_id": registered["link"].source_id, "name": "Zinaida"},
        format="json",
    )
    assert r.status_code == 201
    assert r.json()["lead_id"] != registered["lead"].pk
    fresh = Lead.objects.get(external_id="secret-ext-4711")
    assert fresh.name == "Zinaida" and fresh.contacts.count() == 1
    assert Lead.objects.count() == 3


def test_a_retry_of_an_erased_contacts_key_replays_the_scrubbed_response(registered, bot_client):
    lead_erase(lead_id=registered["lead"].pk)
    r = bot_client.post(
        "/api/v1/contacts/",
        {"source_id": registered["link"].source_id, **SECRETS},
        format="json",
        HTTP_IDEMPOTENCY_KEY="retry-key-1",
    )
    assert r.status_code == 201 and r["Idempotent-Replayed"] == "true"
    body = r.json()
    assert body["id"] == registered["first"]["id"]
    assert body["message"] == "" and body["metadata"] == {}
    assert body["external_id"].startswith(ERASED_EXTERNAL_ID_PREFIX)
    assert Contact.objects.count() == 3 and IdempotencyKey.objects.count() == 1


def test_erasing_an_unknown_lead_writes_nothing():
    with pytest.raises(NotFoundError):
        lead_erase(lead_id=999)
    with pytest.raises(NotFoundError):
        lead_find(external_id="nobody")
    assert not Event.objects.filter(type=EventType.LEAD_ERASED).exists()


def test_erasure_of_a_lead_without_contacts_or_keys(db):
    lead = Lead.objects.create(external_id="lonely", name="Lonely", email="l@x.org")
    erasure = lead_erase(lead_id=lead.pk)
    assert (erasure.contacts, erasure.idempotency_keys) == (0, 0)
    assert _traces(["lonely", "l@x.org"]) == []
    assert ContentType.objects.get_for_model(Lead)  # nothing else was needed
