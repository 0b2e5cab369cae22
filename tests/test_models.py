"""The database itself refuses bad rows, even written around the services and the API."""

import pytest
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from crm.models import CONTACT_WAITING, Contact, Lead, Operator, OperatorSource, Source
from tests.factories import ContactFactory, LeadFactory, OperatorFactory, OperatorSourceFactory, SourceFactory

pytestmark = pytest.mark.django_db


def refused(fn) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        fn()


def test_operator_load_can_never_exceed_capacity():
    op = OperatorFactory(max_load=2)
    refused(lambda: Operator.objects.filter(pk=op.pk).update(open_load=3))
    refused(lambda: Operator.objects.filter(pk=op.pk).update(open_load=-1))
    Operator.objects.filter(pk=op.pk).update(open_load=2)
    refused(lambda: Operator.objects.filter(pk=op.pk).update(max_load=1))
    assert Operator.objects.get(pk=op.pk).open_load == 2


def test_operator_and_source_names_unique_case_insensitive_and_not_blank():
    OperatorFactory(name="Ivan")
    refused(lambda: Operator.objects.create(name="ivan"))
    refused(lambda: Operator.objects.create(name=""))
    SourceFactory(name="tg")
    refused(lambda: Source.objects.create(name="TG"))
    refused(lambda: Source.objects.create(name=""))
    refused(lambda: Source.objects.create(name="x", strategy="fastest"))


def test_max_load_range():
    refused(lambda: Operator.objects.create(name="a", max_load=100_001))


def test_weight_range_and_unique_pair():
    link = OperatorSourceFactory()
    refused(lambda: OperatorSource.objects.create(operator=link.operator, source=link.source, weight=1))
    other = SourceFactory()
    refused(lambda: OperatorSource.objects.create(operator=link.operator, source=other, weight=1001))


def test_lead_external_id_must_be_normalised_and_not_blank():
    refused(lambda: Lead.objects.create(external_id="Ann@X.org"))
    refused(lambda: Lead.objects.create(external_id=" ann"))
    refused(lambda: Lead.objects.create(external_id=""))
    LeadFactory(external_id="ann")
    refused(lambda: Lead.objects.create(external_id="ann"))


def test_contact_status_closed_at_and_reason_consistency():
    c = ContactFactory()
    refused(lambda: Contact.objects.filter(pk=c.pk).update(status="closed"))  # without closed_at
    refused(lambda: Contact.objects.filter(pk=c.pk).update(closed_at=timezone.now()))  # open with closed_at
    refused(lambda: Contact.objects.filter(pk=c.pk).update(status="archived"))
    refused(lambda: Contact.objects.filter(pk=c.pk).update(unassigned_reason=""))  # waiting without a reason
    op = OperatorFactory()
    refused(lambda: Contact.objects.filter(pk=c.pk).update(operator=op))  # assigned with a reason
    refused(lambda: Contact.objects.filter(pk=c.pk).update(unassigned_reason="bored"))


def test_history_protects_operators_sources_and_leads():
    op = OperatorFactory()
    c = ContactFactory(operator=op, unassigned_reason="")
    for obj in (op, c.source, c.lead):
        with pytest.raises(ProtectedError), transaction.atomic():
            obj.delete()
    assert Contact.objects.filter(pk=c.pk).exists()


def test_unused_operator_can_be_deleted_with_its_links():
    link = OperatorSourceFactory()
    link.operator.delete()
    assert not OperatorSource.objects.exists()


@pytest.mark.django_db
def test_waiting_means_open_without_operator():
    link = OperatorSourceFactory()
    waiting = ContactFactory(source=link.source)
    ContactFactory(source=link.source, operator=link.operator, unassigned_reason="")
    closed = ContactFactory(source=link.source)
    Contact.objects.filter(pk=closed.pk).update(status="closed", closed_at=closed.created_at)
    assert list(Contact.objects.waiting()) == [waiting]


def test_the_waiting_index_uses_the_waiting_condition():
    index = next(i for i in Contact._meta.indexes if i.name == "crm_contact_waiting_idx")
    assert index.condition == CONTACT_WAITING
