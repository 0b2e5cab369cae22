"""Reads that are more than one line of ORM, one module per concern; every selector is
imported from here (`from crm.selectors import lead_search`)."""

from crm.selectors.contacts import (  # noqa: F401
    contact_decision_visible,
    contact_events,
    contact_reassign_targets,
    operator_for_user,
    operator_load_mismatches,
    operator_sources,
    operators_availability,
    transfer_targets,
)
from crm.selectors.leads import (  # noqa: F401
    LEAD_RECENT_CONTACTS,
    LEAD_SEARCH_MIN_LENGTH,
    contact_lead_search_condition,
    lead_get_with_recent_contacts,
    lead_profile_visible,
    lead_search,
)
from crm.selectors.stats import (  # noqa: F401
    STATS_DEFAULT_WINDOW,
    STATS_WINDOWS,
    distribution_stats,
    metrics_operator_loads,
    metrics_waiting_by_source,
    routing_dashboard_stats,
    routing_simulate,
    stats_window_since,
)
from crm.selectors.webhooks import (  # noqa: F401
    webhook_backlog,
    webhook_failing_endpoints,
)
