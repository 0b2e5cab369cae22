"""Moving open contacts between operators: a reassignment (to a named operator or by routing
again) and the redistribution of a deactivated operator's contacts. Each test asserts the
database state afterwards."""

import random

import pytest

from crm.errors import ConflictError, DomainError, NotFoundError
from crm.models import Contact, Operator
from crm.selectors import operator_load_mismatches
from crm.services import routing_config
from crm.services.contacts import contact_close, contact_reassign
from crm.services.intake import contact_register
from tests.factories import OperatorFactory, OperatorSourceFactory, SourceFactory

pytestmark = pytest.mark.django_db


def load(op):
    return Operator.objects.get(pk=op.pk).open_load


# --- reassignment -----------------------------------------------------------------------------


@pytest.fixture
def two_operators(rng):
    source = SourceFactory()
    a = OperatorFactory(name="a", max_load=2)
    b = OperatorFactory(name="b", max_load=2)
    OperatorSourceFactory(source=source, operator=a, weight=1000)
    OperatorSourceFactory(source=source, operator=b, weight=1)
    contact = contact_register(external_id="r", source_id=source.pk, rng=random.Random(0))
    if contact.operator_id != a.pk:
        contact = contact_reassign(contact_id=contact.pk, operator_id=a.pk)
    return source, a, b, contact


def test_reassign_to_named_operator_moves_load(two_operators):
    _source, a, b, contact = two_operators
    moved = contact_reassign(contact_id=contact.pk, operator_id=b.pk)
    assert moved.operator_id == b.pk and moved.assignment["strategy"] == "manual"
    assert (load(a), load(b)) == (0, 1)
    assert operator_load_mismatches() == []


def test_reassign_to_full_or_inactive_or_unlinked_is_refused(two_operators, rng):
    source, a, b, contact = two_operators
    contact_register(external_id="b1", source_id=source.pk, rng=rng)
    Operator.objects.filter(pk=b.pk).update(max_load=0)  # full at once (load 0 >= 0)
    with pytest.raises(DomainError, match="full"):
        contact_reassign(contact_id=contact.pk, operator_id=b.pk)
    Operator.objects.filter(pk=b.pk).update(max_load=2, is_active=False)
    with pytest.raises(DomainError, match="inactive"):
        contact_reassign(contact_id=contact.pk, operator_id=b.pk)
    stranger = OperatorFactory()
    with pytest.raises(DomainError, match="does not serve"):
        contact_reassign(contact_id=contact.pk, operator_id=stranger.pk)
    with pytest.raises(NotFoundError):
        contact_reassign(contact_id=contact.pk, operator_id=987654)
    with pytest.raises(DomainError, match="already assigned"):
        contact_reassign(contact_id=contact.pk, operator_id=a.pk)
    assert Contact.objects.get(pk=contact.pk).operator_id == a.pk


def test_reassign_rerun_picks_another_operator(two_operators):
    _, a, b, contact = two_operators
    moved = contact_reassign(contact_id=contact.pk)
    assert moved.operator_id == b.pk
    excluded = {c["operator_id"]: c["excluded"] for c in moved.assignment["candidates"]}
    assert excluded[a.pk] == "current"


def test_reassign_rerun_with_nobody_else_keeps_the_contact(two_operators):
    _, a, b, contact = two_operators
    routing_config.operator_update(operator_id=b.pk, is_active=False)
    with pytest.raises(DomainError, match="stays with"):
        contact_reassign(contact_id=contact.pk)
    assert Contact.objects.get(pk=contact.pk).operator_id == a.pk and load(a) == 1


def test_reassign_closed_contact_is_conflict(two_operators):
    _, _, b, contact = two_operators
    contact_close(contact_id=contact.pk)
    with pytest.raises(ConflictError):
        contact_reassign(contact_id=contact.pk, operator_id=b.pk)


def test_reassign_away_from_full_operator_drains_his_queue(rng):
    source = SourceFactory()
    a = OperatorFactory(max_load=1)
    OperatorSourceFactory(source=source, operator=a)
    first = contact_register(external_id="1", source_id=source.pk, rng=rng)
    queued = contact_register(external_id="2", source_id=source.pk, rng=rng)
    b = OperatorFactory(max_load=1)
    routing_config.link_create(operator_id=b.pk, source_id=source.pk, weight=0)  # paused: manual only
    contact_reassign(contact_id=first.pk, operator_id=b.pk)
    assert Contact.objects.get(pk=queued.pk).operator_id == a.pk
    assert (load(a), load(b)) == (1, 1)


# --- redistribution ---------------------------------------------------------------------------


def test_deactivate_with_redistribute_moves_open_contacts(rng):
    source = SourceFactory()
    leaving = OperatorFactory(max_load=5)
    other = OperatorFactory(max_load=2)
    OperatorSourceFactory(source=source, operator=leaving, weight=1000)
    link_other = OperatorSourceFactory(source=source, operator=other, weight=0)
    contacts = [contact_register(external_id=f"c{i}", source_id=source.pk, rng=rng) for i in range(3)]
    assert load(leaving) == 3
    routing_config.link_update(link_id=link_other.pk, weight=1)
    routing_config.operator_update(operator_id=leaving.pk, is_active=False, redistribute=True)
    assert load(leaving) == 0 and load(other) == 2
    ops = [Contact.objects.get(pk=c.pk).operator_id for c in contacts]
    assert ops == [other.pk, other.pk, None]  # oldest first; the third waits
    assert Contact.objects.get(pk=contacts[2].pk).unassigned_reason == "all_at_capacity"
    assert operator_load_mismatches() == []


def test_redistribute_reaches_sources_he_no_longer_serves(rng):
    source = SourceFactory()
    leaving = OperatorFactory(max_load=5)
    other = OperatorFactory(max_load=5)
    old_link = OperatorSourceFactory(source=source, operator=leaving, weight=1000)
    contact = contact_register(external_id="k", source_id=source.pk, rng=rng)
    assert contact.operator_id == leaving.pk
    routing_config.link_delete(link_id=old_link.pk)
    OperatorSourceFactory(source=source, operator=other, weight=1)
    routing_config.operator_update(operator_id=leaving.pk, is_active=False, redistribute=True)
    assert Contact.objects.get(pk=contact.pk).operator_id == other.pk
    assert (load(leaving), load(other)) == (0, 1)


def test_deactivate_without_redistribute_keeps_contacts(rng):
    link = OperatorSourceFactory()
    c = contact_register(external_id="k", source_id=link.source_id, rng=rng)
    routing_config.operator_update(operator_id=link.operator_id, is_active=False)
    assert Contact.objects.get(pk=c.pk).operator_id == link.operator_id


def test_redistribute_requires_deactivation():
    op = OperatorFactory()
    with pytest.raises(DomainError, match="deactivating"):
        routing_config.operator_update(operator_id=op.pk, redistribute=True)
