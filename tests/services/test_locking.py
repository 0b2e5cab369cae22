"""The routing lock helper: refuses to run outside a transaction, writes its changes back
when the block ends cleanly, and writes nothing when it ends with an exception."""

import pytest
from django.db import transaction

from crm.models import Operator, OperatorSource
from crm.services.assignment import Candidate
from crm.services.locking import LockOutsideTransactionError, routing_locked
from tests.factories import OperatorSourceFactory


@pytest.mark.django_db(transaction=True)
def test_lock_outside_a_transaction_is_refused():
    link = OperatorSourceFactory()
    with pytest.raises(LockOutsideTransactionError), routing_locked(source_ids=[link.source_id]):
        pass  # pragma: no cover - never entered
    assert Operator.objects.get(pk=link.operator_id).open_load == 0


@pytest.mark.django_db
def test_changes_are_written_when_the_block_ends_cleanly():
    link = OperatorSourceFactory(source__strategy="smooth")
    with transaction.atomic(), routing_locked(source_ids=[link.source_id]) as ctx:
        ctx.take(link.source_id, link.operator_id)
        assert Operator.objects.get(pk=link.operator_id).open_load == 0  # not yet
    assert Operator.objects.get(pk=link.operator_id).open_load == 1
    assert OperatorSource.objects.get(pk=link.pk).smooth_count == 1


@pytest.mark.django_db
def test_changes_are_not_written_when_the_block_raises():
    link = OperatorSourceFactory(source__strategy="smooth")
    with pytest.raises(ZeroDivisionError), transaction.atomic(), routing_locked(source_ids=[link.source_id]) as ctx:
        ctx.take(link.source_id, link.operator_id)
        raise ZeroDivisionError
    assert Operator.objects.get(pk=link.operator_id).open_load == 0
    assert OperatorSource.objects.get(pk=link.pk).smooth_count == 0


@pytest.mark.django_db
def test_serving_locks_every_source_the_operator_serves():
    first = OperatorSourceFactory()
    second = OperatorSourceFactory(operator=first.operator)
    other = OperatorSourceFactory(source=second.source)
    with transaction.atomic(), routing_locked(serving=[first.operator_id]) as ctx:
        assert ctx.served == sorted([first.source_id, second.source_id])
        assert set(ctx.operators) == {first.operator_id, other.operator_id}


@pytest.mark.django_db
def test_intake_lock_of_an_unknown_source_has_no_such_source():
    with transaction.atomic(), routing_locked(intake_source_id=987654) as ctx:
        assert 987654 not in ctx.sources


@pytest.mark.django_db
def test_candidate_from_link_uses_the_stored_load_unless_told():
    link = OperatorSourceFactory(weight=7, operator__max_load=3)
    Operator.objects.filter(pk=link.operator_id).update(open_load=2)
    link = OperatorSource.objects.select_related("operator").get(pk=link.pk)
    assert Candidate.from_link(link) == Candidate(link.operator_id, link.operator.name, 7, True, 2, 3, 0)
    assert Candidate.from_link(link, load=3).exclusion == "full"
