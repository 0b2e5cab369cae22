"""The lead's profile and the contact's message and metadata, at the service level: the
normalisations, the "last non-empty value wins" rule, and concurrency on one lead."""

from datetime import timedelta

import pytest
from django.utils import timezone

from crm.errors import DomainError
from crm.models import Contact, Lead
from crm.services.intake import contact_register
from crm.services.leads import (
    LeadProfile,
    email_normalise,
    lead_touch,
    metadata_clean,
    phone_normalise,
)
from tests.factories import OperatorFactory, OperatorSourceFactory, SourceFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+7 (912) 345-67-89", None, "+79123456789"),
        ("+79123456789", None, "+79123456789"),
        ("0079123456789", None, "+79123456789"),
        ("00 44 20 7946 0958", None, "+442079460958"),
        ("+1 202-555-0100", None, "+12025550100"),
        ("8 912 345 67 89", "RU", "+79123456789"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("  ", None, ""),
        ("", None, ""),
    ],
)
def test_phone_is_normalised_to_e164(raw, region, expected):
    assert phone_normalise(raw, region=region) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "12345",  # no country code and no default region
        "8 912 345 67 89",  # national, no default region
        "+12",
        "call me",
        "+7 912 CALL-ME",
        "+7 912 345 67 89 ext 12",
        "+7 912 345 67 89 00000",
        "+999 123 456 789",  # no such country code
        "+" + "1" * 40,
        "+7912\x003456789",
    ],
)
def test_what_is_not_a_phone_number_is_refused_naming_the_field(raw):
    with pytest.raises(DomainError) as exc:
        phone_normalise(raw, region="")
    assert exc.value.field == "phone"


def test_default_region_comes_from_the_settings(settings):
    settings.PHONE_DEFAULT_REGION = "RU"
    assert phone_normalise("8 (912) 345-67-89") == "+79123456789"
    settings.PHONE_DEFAULT_REGION = ""
    with pytest.raises(DomainError, match="country code"):
        phone_normalise("8 (912) 345-67-89")


def test_email_is_checked_and_lower_cased():
    assert email_normalise("  Anna.Petrova@Example.COM ") == "anna.petrova@example.com"
    assert email_normalise("") == ""
    for bad in ("anna", "anna@", "@example.com", "an na@example.com", "a@b@c"):
        with pytest.raises(DomainError) as exc:
            email_normalise(bad)
        assert exc.value.field == "email"


@pytest.mark.parametrize(
    "raw",
    [
        [],
        "text",
        {"nested": {"a": 1}},
        {"list": [1, 2]},
        {"": "empty key"},
        {"k" * 101: 1},
        {"nan": float("nan")},
        {"inf": float("inf")},
        {"nul": "a\x00b"},
        {"big": "x" * 4100},
        {"surrogate": "\ud800"},
    ],
)
def test_metadata_must_be_a_small_flat_object_of_scalars(raw):
    with pytest.raises(DomainError) as exc:
        metadata_clean(raw)
    assert exc.value.field == "metadata"


def test_metadata_accepts_scalars_up_to_the_size_limit():
    data = {"utm_source": "ads", "chat_id": 42, "score": 0.5, "vip": True, "none": None}
    assert metadata_clean(data) == data
    assert metadata_clean(None) == {}
    # 4096 bytes exactly, counted as UTF-8: {"k":"..."} is 8 bytes of syntax.
    assert metadata_clean({"k": "x" * (4096 - 8)})
    with pytest.raises(DomainError):
        metadata_clean({"k": "x" * (4096 - 7)})
    with pytest.raises(DomainError):  # 2 bytes per Cyrillic letter
        metadata_clean({"k": "я" * 2045})


def test_a_new_lead_gets_the_profile_and_both_seen_times():
    lead, created = lead_touch(
        external_id=" Ann ", profile=LeadProfile.clean(name=" Anna ", phone="+79123456789", email="A@X.org")
    )
    assert created
    stored = Lead.objects.get()
    assert (stored.external_id, stored.name, stored.phone, stored.email) == ("ann", "Anna", "+79123456789", "a@x.org")
    assert stored.name_search == " anna "
    assert stored.created_at == stored.last_seen_at == lead.created_at
    assert lead.pk == stored.pk and lead.name == "Anna"


def test_a_later_non_empty_value_wins_and_an_empty_one_keeps():
    first = timezone.now()
    lead_touch(
        external_id="ann", profile=LeadProfile(name="Anna", phone="+79123456789", email="a@x.org"), seen_at=first
    )
    later = first + timedelta(minutes=5)
    lead, created = lead_touch(external_id="ANN", profile=LeadProfile(name="", email="new@x.org"), seen_at=later)
    assert not created
    stored = Lead.objects.get()
    assert (stored.name, stored.phone, stored.email) == ("Anna", "+79123456789", "new@x.org")
    assert stored.created_at == first and stored.last_seen_at == later
    assert (lead.name, lead.email, lead.created_at, lead.last_seen_at) == ("Anna", "new@x.org", first, later)
    lead_touch(external_id="ann", profile=LeadProfile(name="Анна Петрова"), seen_at=later + timedelta(seconds=1))
    stored.refresh_from_db()
    assert (stored.name, stored.name_search) == ("Анна Петрова", " анна петрова ")
    lead_touch(external_id="ann", profile=LeadProfile(name="O'Neil-Smith  Jr."), seen_at=later + timedelta(seconds=2))
    stored.refresh_from_db()
    assert (stored.name, stored.name_search) == ("O'Neil-Smith  Jr.", " o neil smith jr ")


def test_last_seen_never_moves_backwards():
    now = timezone.now()
    lead_touch(external_id="ann", seen_at=now)
    lead_touch(external_id="ann", seen_at=now - timedelta(seconds=3))  # a slower transaction committing later
    assert Lead.objects.get().last_seen_at == now


def test_intake_stores_message_and_metadata_and_updates_the_profile(rng):
    link = OperatorSourceFactory()
    contact = contact_register(
        external_id="ann",
        source_id=link.source_id,
        name="Anna",
        phone="+7 912 345 67 89",
        email="Anna@X.org",
        message="Is the sofa still available?",
        metadata={"utm_source": "ads"},
        rng=rng,
    )
    stored = Contact.objects.get()
    assert stored.pk == contact.pk
    assert (stored.message, stored.metadata) == ("Is the sofa still available?", {"utm_source": "ads"})
    lead = Lead.objects.get()
    assert (lead.name, lead.phone, lead.email) == ("Anna", "+79123456789", "anna@x.org")
    contact_register(external_id="ann", source_id=link.source_id, message="Thanks", rng=rng)
    lead.refresh_from_db()
    assert (lead.name, lead.phone, lead.email) == ("Anna", "+79123456789", "anna@x.org")
    assert list(Contact.objects.order_by("id").values_list("message", "metadata")) == [
        ("Is the sofa still available?", {"utm_source": "ads"}),
        ("Thanks", {}),
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("phone", "not a phone"),
        ("email", "nobody"),
        ("name", "x" * 201),
        ("message", "x" * 4001),
        ("metadata", {"nested": {"a": 1}}),
    ],
)
def test_bad_profile_or_message_writes_nothing(field, value, rng):
    link = OperatorSourceFactory()
    with pytest.raises(DomainError) as exc:
        contact_register(external_id="ann", source_id=link.source_id, rng=rng, **{field: value})
    assert exc.value.field == field
    assert Lead.objects.count() == 0 and Contact.objects.count() == 0


def test_a_known_lead_keeps_affinity_and_a_new_one_has_no_history(rng):
    source = SourceFactory(affinity=True)
    for _ in range(3):
        OperatorSourceFactory(source=source, operator=OperatorFactory(max_load=100))
    first = contact_register(external_id="ann", source_id=source.pk, name="Anna", rng=rng)
    assert first.assignment["affinity"] == "no_history"
    again = contact_register(external_id="ann", source_id=source.pk, name="Anna P.", rng=rng)
    assert again.assignment["affinity"] == "hit" and again.operator_id == first.operator_id
