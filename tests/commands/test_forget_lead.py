"""manage.py forget_lead: a thin command over crm.services.lead_erasure.lead_erase."""

import pytest
from django.core.management import CommandError, call_command

from crm.models import ActorKind, Contact, Event, EventType, Lead
from crm.services.intake import contact_register
from tests.factories import OperatorSourceFactory

pytestmark = pytest.mark.django_db


def test_forget_lead_erases_by_external_id_and_prints_no_personal_data(capsys, rng):
    link = OperatorSourceFactory()
    for message in ("first secret words", "second secret words"):
        contact_register(external_id="Secret-Ext-4711", source_id=link.source_id, name="Zina", message=message, rng=rng)
    lead = Lead.objects.get()
    call_command("forget_lead", "  SECRET-ext-4711 ")
    out = capsys.readouterr().out
    assert f"lead {lead.pk}" in out and "2 contacts" in out
    assert "secret" not in out.lower()
    lead.refresh_from_db()
    assert lead.name == "" and lead.erased_at is not None and lead.external_id.startswith("erased-")
    assert set(Contact.objects.values_list("message", flat=True)) == {""}
    erased = Event.objects.get(type=EventType.LEAD_ERASED)
    assert (erased.actor_kind, erased.actor_user) == (ActorKind.SYSTEM, None)


def test_forget_lead_of_an_unknown_id_fails_and_writes_nothing():
    with pytest.raises(CommandError, match="No lead"):
        call_command("forget_lead", "nobody")
    assert not Lead.objects.exists()
