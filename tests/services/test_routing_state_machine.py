"""Property-based: random sequences of register / close / reassign / transfer / activate /
deactivate (with or without redistribution) / change weight / change capacity / availability
(online, away, offline with or without redistribution) / a login / time passing (auto-away) /
activity / one background drain batch / the background drains catching up, with the routing
invariants checked after every step (tests/invariants.py).

Batches are of one contact, so that requests leave most of the queue to the background.
The drains they ask for run on commit, and a run is one transaction: those messages are
never delivered here, as if every one were lost; the `catch_up` step (the sweep and the
chains of batches it starts) is all that drains. "Nobody waits while an eligible operator
has room" is checked after it; capacity, loads and queue order after every step."""

import contextlib
import random

import pytest
from django.db import transaction
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from crm.errors import DomainError
from crm.models import Contact, Operator, OperatorSource
from crm.services import routing_config
from crm.services.accounts import operator_login_create
from crm.services.availability import operator_activity_record, operator_availability_set
from crm.services.contacts import contact_close, contact_reassign, contact_transfer
from crm.services.intake import contact_register
from crm.services.queue import queue_drain
from crm.tasks import queue_sweep
from tests.invariants import assert_routing_invariants

N_OPERATORS, N_SOURCES = 4, 3
CLOCK = None  # the test's clock (tests/conftest.py), moved forward by the `time_passes` rule


class RoutingMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        # Each run is one savepoint inside the test's transaction, rolled back at the end.
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        self.rng = random.Random(0)
        self.caught_up = True

    def teardown(self):
        transaction.set_rollback(True)
        self.atomic.__exit__(None, None, None)

    @initialize(
        capacities=st.lists(st.integers(0, 2), min_size=N_OPERATORS, max_size=N_OPERATORS),
        weights=st.lists(st.integers(0, 5), min_size=N_OPERATORS * N_SOURCES, max_size=N_OPERATORS * N_SOURCES),
        strategies=st.lists(st.sampled_from(["random", "smooth"]), min_size=N_SOURCES, max_size=N_SOURCES),
        affinity=st.lists(st.booleans(), min_size=N_SOURCES, max_size=N_SOURCES),
    )
    def configure(self, capacities, weights, strategies, affinity):
        self.ops = [routing_config.operator_create(name=f"op{i}", max_load=c).pk for i, c in enumerate(capacities)]
        self.sources = [
            routing_config.source_create(name=f"src{i}", strategy=s, affinity=a).pk
            for i, (s, a) in enumerate(zip(strategies, affinity, strict=True))
        ]
        for s_i, source in enumerate(self.sources):
            for o_i, op in enumerate(self.ops):
                weight = weights[s_i * N_OPERATORS + o_i]
                if (s_i + o_i) % 4 != 3:  # not every operator serves every source
                    routing_config.link_create(operator_id=op, source_id=source, weight=weight)

    @rule(source=st.integers(0, N_SOURCES - 1), lead=st.integers(0, 5), count=st.integers(1, 4))
    def register(self, source, lead, count):
        self.caught_up = False
        # Several at once, so that queues form often enough for the drains to matter.
        for i in range(count):
            contact = contact_register(external_id=f"lead{lead + i}", source_id=self.sources[source], rng=self.rng)
            if contact.operator_id is not None:
                # Strict order: it took room only because nobody older of its source waited.
                assert not Contact.objects.waiting().filter(source_id=contact.source_id, id__lt=contact.pk).exists()

    @rule(source=st.integers(0, N_SOURCES - 1))
    def drain_one_batch(self, source):
        """One background batch: it takes the oldest waiting contacts of the source."""
        self.caught_up = False
        source_id = self.sources[source]
        before = list(Contact.objects.waiting().filter(source_id=source_id).order_by("id").values_list("id", flat=True))
        queue_drain(source_ids=[source_id], rng=self.rng, limit=1)
        after = set(Contact.objects.waiting().filter(source_id=source_id).values_list("id", flat=True))
        served = [cid for cid in before if cid not in after]
        assert served == before[: len(served)], "the drain skipped an older waiting contact"

    @rule()
    def catch_up(self):
        """The background drains catch up: the sweep enqueues a drain for every source with
        room and waiting contacts; each runs batch after batch (in-process) until done."""
        queue_sweep.call_local()
        self.caught_up = True

    @rule(pick=st.integers(0, 10**6))
    def close(self, pick):
        self.caught_up = False
        open_ids = list(Contact.objects.filter(status="open").order_by("id").values_list("id", flat=True))
        if open_ids:
            contact_close(contact_id=open_ids[pick % len(open_ids)], rng=self.rng)

    @rule(pick=st.integers(0, 10**6), op=st.one_of(st.none(), st.integers(0, N_OPERATORS - 1)))
    def reassign(self, pick, op):
        self.caught_up = False
        open_ids = list(Contact.objects.filter(status="open").order_by("id").values_list("id", flat=True))
        if open_ids:
            # Refused (full, inactive, not linked, nobody else) changes nothing: fine.
            with contextlib.suppress(DomainError):
                contact_reassign(
                    contact_id=open_ids[pick % len(open_ids)],
                    operator_id=None if op is None else self.ops[op],
                    rng=self.rng,
                )

    @rule(op=st.integers(0, N_OPERATORS - 1))
    def activate(self, op):
        self.caught_up = False
        routing_config.operator_update(operator_id=self.ops[op], is_active=True)

    @rule(op=st.integers(0, N_OPERATORS - 1), redistribute=st.booleans())
    def deactivate(self, op, redistribute):
        self.caught_up = False
        routing_config.operator_update(operator_id=self.ops[op], is_active=False, redistribute=redistribute)

    @rule(link=st.integers(0, N_OPERATORS * N_SOURCES), weight=st.integers(0, 5))
    def change_weight(self, link, weight):
        self.caught_up = False
        links = list(OperatorSource.objects.order_by("id").values_list("id", flat=True))
        routing_config.link_update(link_id=links[link % len(links)], weight=weight)

    @rule(op=st.integers(0, N_OPERATORS - 1), max_load=st.integers(0, 4))
    def change_capacity(self, op, max_load):
        self.caught_up = False
        try:
            routing_config.operator_update(operator_id=self.ops[op], max_load=max_load)
        except DomainError as exc:
            assert exc.field == "max_load"
            assert max_load < Operator.objects.get(pk=self.ops[op]).open_load

    @rule(pick=st.integers(0, 10**6), op=st.integers(0, N_OPERATORS - 1))
    def transfer(self, pick, op):
        assigned = list(
            Contact.objects.filter(status="open", operator__isnull=False).order_by("id").values_list("id", flat=True)
        )
        if assigned:
            # Refused (not linked, inactive, paused, away, offline, full, same) changes nothing.
            with contextlib.suppress(DomainError):
                contact_transfer(contact_id=assigned[pick % len(assigned)], operator_id=self.ops[op], rng=self.rng)

    @rule(
        op=st.integers(0, N_OPERATORS - 1),
        availability=st.sampled_from(Operator.Availability.values),
        redistribute=st.booleans(),
    )
    def set_availability(self, op, availability, redistribute):
        redistribute = redistribute and availability == Operator.Availability.OFFLINE
        operator_availability_set(operator_id=self.ops[op], availability=availability, redistribute=redistribute)

    @rule(op=st.integers(0, N_OPERATORS - 1))
    def give_login(self, op):
        operator_login_create(operator_id=self.ops[op], username=f"login{op}")

    @rule(minutes=st.sampled_from([0.5, 2, 29, 31, 45]))
    def time_passes(self, minutes):
        CLOCK.advance(minutes=minutes)

    @rule(op=st.integers(0, N_OPERATORS - 1))
    def activity(self, op):
        operator_activity_record(operator=Operator.objects.get(pk=self.ops[op]))

    @invariant()
    def routing_invariants(self):
        if hasattr(self, "ops"):
            assert_routing_invariants(caught_up=self.caught_up)


@pytest.mark.django_db
def test_routing_state_machine(settings, clock):
    global CLOCK
    CLOCK = clock
    settings.QUEUE_DRAIN_BATCH = 1
    run_state_machine_as_test(
        RoutingMachine,
        settings=hypothesis_settings(
            max_examples=60,
            stateful_step_count=30,
            deadline=None,
            derandomize=True,  # the same sequences on every run: CI stays reproducible
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
