"""What-if: how would N new contacts spread under the current configuration?"""

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import replace

from crm.errors import NotFoundError
from crm.models import OperatorSource, Source
from crm.services.assignment import Candidate, choose_operator


def routing_simulate(
    *,
    source_id: int,
    contacts: int,
    rng: random.Random | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Run the real choice `contacts` times on an in-memory copy of the source's operators
    (current loads, weights, strategy), as if every contact were a new lead and nobody
    closed anything meanwhile. Reads only; writes nothing. Returns
    {"source", "contacts", "waiting", "waiting_reasons": {reason: n},
     "operators": [{"operator_id", "name", "weight", "configured_share", "assigned",
                    "share", "load_before", "load_after", "max_load", "excluded_now"}]}."""
    source = Source.objects.filter(pk=source_id).first()
    if source is None:
        raise NotFoundError(f"Source {source_id} does not exist.", field="source")
    links = OperatorSource.objects.filter(source_id=source_id).select_related("operator").order_by("operator_id")
    candidates = [
        Candidate(
            operator_id=link.operator_id,
            name=link.operator.name,
            weight=link.weight,
            is_active=link.operator.is_active,
            load=link.operator.open_load,
            max_load=link.operator.max_load,
            smooth_count=link.smooth_count,
        )
        for link in links
    ]
    before = {c.operator_id: c for c in candidates}
    rng = rng or random.Random()
    assigned: Counter = Counter()
    reasons: Counter = Counter()
    step = max(1, contacts // 10)
    for i in range(contacts):
        decision = choose_operator(candidates, strategy=source.strategy, rng=rng)
        if decision.operator_id is None:
            reasons[decision.reason] += 1
        else:
            assigned[decision.operator_id] += 1
            candidates = [
                replace(c, load=c.load + 1, smooth_count=c.smooth_count + 1)
                if c.operator_id == decision.operator_id
                else c
                for c in candidates
            ]
        if progress and (i + 1) % step == 0:
            progress(i + 1)
    total_weight = sum(c.weight for c in before.values())
    total_assigned = sum(assigned.values())
    return {
        "source": source,
        "contacts": contacts,
        "waiting": sum(reasons.values()),
        "waiting_reasons": dict(reasons),
        "operators": [
            {
                "operator_id": c.operator_id,
                "name": c.name,
                "weight": c.weight,
                "configured_share": c.weight / total_weight if total_weight else 0.0,
                "assigned": assigned[c.operator_id],
                "share": assigned[c.operator_id] / total_assigned if total_assigned else 0.0,
                "load_before": c.load,
                "load_after": c.load + assigned[c.operator_id],
                "max_load": c.max_load,
                "excluded_now": c.exclusion,
            }
            for c in before.values()
        ],
    }
