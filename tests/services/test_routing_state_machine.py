"""Property-based: random sequences of register / close / reassign / activate / deactivate
(with or without redistribution) / change weight / change capacity, with the routing
invariants checked after every step (tests/invariants.py)."""

import contextlib
import random

import pytest
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from crm.errors import DomainError
from crm.models import Contact, Operator, OperatorSource
from crm.services import routing_config
from crm.services.contacts import contact_close, contact_reassign
from crm.services.intake import contact_register
from tests.invariants import assert_routing_invariants

N_OPERATORS, N_SOURCES = 4, 3


class RoutingMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        # Each run is one savepoint inside the test's transaction, rolled back at the end.
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        self.rng = random.Random(0)

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
        # Several at once, so that queues form often enough for the drains to matter.
        for i in range(count):
            contact_register(external_id=f"lead{lead + i}", source_id=self.sources[source], rng=self.rng)

    @rule(pick=st.integers(0, 10**6))
    def close(self, pick):
        open_ids = list(Contact.objects.filter(status="open").order_by("id").values_list("id", flat=True))
        if open_ids:
            contact_close(contact_id=open_ids[pick % len(open_ids)], rng=self.rng)

    @rule(pick=st.integers(0, 10**6), op=st.one_of(st.none(), st.integers(0, N_OPERATORS - 1)))
    def reassign(self, pick, op):
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
        routing_config.operator_update(operator_id=self.ops[op], is_active=True)

    @rule(op=st.integers(0, N_OPERATORS - 1), redistribute=st.booleans())
    def deactivate(self, op, redistribute):
        routing_config.operator_update(operator_id=self.ops[op], is_active=False, redistribute=redistribute)

    @rule(link=st.integers(0, N_OPERATORS * N_SOURCES), weight=st.integers(0, 5))
    def change_weight(self, link, weight):
        links = list(OperatorSource.objects.order_by("id").values_list("id", flat=True))
        routing_config.link_update(link_id=links[link % len(links)], weight=weight)

    @rule(op=st.integers(0, N_OPERATORS - 1), max_load=st.integers(0, 4))
    def change_capacity(self, op, max_load):
        try:
            routing_config.operator_update(operator_id=self.ops[op], max_load=max_load)
        except DomainError as exc:
            assert exc.field == "max_load"
            assert max_load < Operator.objects.get(pk=self.ops[op]).open_load

    @invariant()
    def routing_invariants(self):
        if hasattr(self, "ops"):
            assert_routing_invariants()


@pytest.mark.django_db
def test_routing_state_machine():
    run_state_machine_as_test(
        RoutingMachine,
        settings=settings(
            max_examples=60,
            stateful_step_count=30,
            deadline=None,
            derandomize=True,  # the same sequences on every run: CI stays reproducible
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
