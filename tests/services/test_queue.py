"""The waiting queue: every change that frees room hands it to the oldest waiting contacts of
the sources concerned; closing a waiting contact leaves loads alone. Each test asserts the
database state afterwards."""

import pytest

from crm.models import Contact, Operator
from crm.selectors import operator_load_mismatches
from crm.services import routing_config
from crm.services.contacts import contact_close
from crm.services.intake import contact_register
from crm.services.queue import queue_drain_all
from tests.factories import OperatorFactory, OperatorSourceFactory, SourceFactory

pytestmark = pytest.mark.django_db


def waiting(source):
    return list(
        Contact.objects.filter(source=source, status="open", operator__isnull=True)
        .order_by("id")
        .values_list("id", flat=True)
    )


def load(op):
    return Operator.objects.get(pk=op.pk).open_load


@pytest.fixture
def full_source(rng):
    """One operator, max_load 1, already full; three contacts waiting behind him."""
    op = OperatorFactory(max_load=1)
    link = OperatorSourceFactory(operator=op, weight=10)
    first = contact_register(external_id="first", source_id=link.source_id, rng=rng)
    queued = [contact_register(external_id=f"q{i}", source_id=link.source_id, rng=rng) for i in range(3)]
    assert first.operator_id == op.pk and all(c.operator_id is None for c in queued)
    return op, link.source, first, queued


def test_closing_a_full_operators_contact_hands_him_the_oldest_waiting(full_source, rng):
    op, source, first, queued = full_source
    contact_close(contact_id=first.pk, rng=rng)
    assert Contact.objects.get(pk=queued[0].pk).operator_id == op.pk
    assert waiting(source) == [queued[1].pk, queued[2].pk]
    assert load(op) == 1
    record = Contact.objects.get(pk=queued[0].pk).assignment
    assert record["via"] == "queue" and record["operator_id"] == op.pk
    assert Contact.objects.get(pk=queued[0].pk).unassigned_reason == ""
    assert operator_load_mismatches() == []


def test_raising_max_load_drains_up_to_the_new_room(full_source):
    op, source, _, queued = full_source
    routing_config.operator_update(operator_id=op.pk, max_load=3)
    assert waiting(source) == [queued[2].pk]
    assert load(op) == 3


def test_activating_an_operator_drains(rng):
    op = OperatorFactory(is_active=False, max_load=5)
    link = OperatorSourceFactory(operator=op)
    c = contact_register(external_id="x", source_id=link.source_id, rng=rng)
    assert c.unassigned_reason == "all_inactive"
    routing_config.operator_update(operator_id=op.pk, is_active=True)
    assert Contact.objects.get(pk=c.pk).operator_id == op.pk and load(op) == 1


def test_weight_raised_from_zero_drains(rng):
    link = OperatorSourceFactory(weight=0)
    c = contact_register(external_id="x", source_id=link.source_id, rng=rng)
    assert c.unassigned_reason == "all_paused"
    routing_config.link_update(link_id=link.pk, weight=5)
    assert Contact.objects.get(pk=c.pk).operator_id == link.operator_id


def test_new_link_drains(rng):
    source = SourceFactory()
    c = contact_register(external_id="x", source_id=source.pk, rng=rng)
    op = OperatorFactory()
    routing_config.link_create(operator_id=op.pk, source_id=source.pk, weight=1)
    assert Contact.objects.get(pk=c.pk).operator_id == op.pk and load(op) == 1


def test_new_link_with_weight_zero_does_not_drain(rng):
    source = SourceFactory()
    c = contact_register(external_id="x", source_id=source.pk, rng=rng)
    routing_config.link_create(operator_id=OperatorFactory().pk, source_id=source.pk, weight=0)
    assert Contact.objects.get(pk=c.pk).operator_id is None


def test_freed_room_serves_every_source_of_the_operator_oldest_first(rng):
    op = OperatorFactory(max_load=1)
    a, b = SourceFactory(), SourceFactory()
    OperatorSourceFactory(operator=op, source=a)
    OperatorSourceFactory(operator=op, source=b)
    first = contact_register(external_id="1", source_id=a.pk, rng=rng)
    older_on_b = contact_register(external_id="2", source_id=b.pk, rng=rng)
    contact_register(external_id="3", source_id=a.pk, rng=rng)
    contact_close(contact_id=first.pk, rng=rng)
    assert Contact.objects.get(pk=older_on_b.pk).operator_id == op.pk


def test_closing_a_waiting_contact_leaves_queue_and_loads(full_source):
    op, source, _, queued = full_source
    contact_close(contact_id=queued[1].pk)
    assert waiting(source) == [queued[0].pk, queued[2].pk]
    assert load(op) == 1


def test_assign_waiting_drains_everything_it_can(full_source):
    op, source, _, queued = full_source
    Operator.objects.filter(pk=op.pk).update(max_load=3)  # around the services: no drain happened
    report = queue_drain_all()
    assert report == [(source.pk, 2, 1)]
    assert waiting(source) == [queued[2].pk] and load(op) == 3
