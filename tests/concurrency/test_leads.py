"""Contacts of one lead at once: one lead, one of the names, every contact kept."""

import random

import pytest

from crm.models import Contact, Lead
from crm.services.intake import contact_register
from tests.conftest import run_concurrently
from tests.factories import OperatorFactory, OperatorSourceFactory


@pytest.mark.django_db(transaction=True)
def test_concurrent_contacts_of_one_new_lead_make_one_lead_with_one_of_the_names():
    link = OperatorSourceFactory(operator=OperatorFactory(max_load=100))
    names = [f"Name {i}" for i in range(12)]
    _results, errors = run_concurrently(
        12,
        lambda i: contact_register(
            external_id="Same-Lead", source_id=link.source_id, name=names[i], rng=random.Random(i)
        ),
    )
    assert errors == []
    lead = Lead.objects.get()
    assert lead.external_id == "same-lead" and lead.name in names
    assert Contact.objects.filter(lead=lead).count() == 12
    assert lead.last_seen_at >= lead.created_at


@pytest.mark.django_db(transaction=True)
def test_erasure_racing_intakes_of_the_same_lead_leaves_no_message_on_the_erased_lead():
    """Intakes of one lead while it is erased: every contact committed before the erasure is
    scrubbed with it, every later one belongs to a new lead with the old external id."""
    from crm.services.lead_erasure import lead_erase

    link = OperatorSourceFactory(operator=OperatorFactory(max_load=1000))
    first = contact_register(
        external_id="racer", source_id=link.source_id, name="Secret Name", message="secret", rng=random.Random(0)
    )

    def job(i: int):
        if i == 0:
            return lead_erase(lead_id=first.lead_id)
        return contact_register(
            external_id="racer", source_id=link.source_id, name="Secret Name", message="secret", rng=random.Random(i)
        )

    _results, errors = run_concurrently(12, job)
    assert errors == []
    erased = Lead.objects.get(pk=first.lead_id)
    assert erased.erased_at is not None and erased.name == ""
    assert not Contact.objects.filter(lead=erased).exclude(message="").exists()
    assert Contact.objects.count() == 12
    fresh = Lead.objects.filter(external_id="racer").first()
    if fresh is not None:  # some intakes came after the erasure
        assert fresh.pk != erased.pk and fresh.name == "Secret Name"
        assert Contact.objects.filter(lead=fresh).count() + Contact.objects.filter(lead=erased).count() == 12
