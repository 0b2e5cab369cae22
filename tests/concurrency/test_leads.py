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
