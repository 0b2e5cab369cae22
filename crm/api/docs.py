"""The API's reference text: a summary and a description for every operation, grouped by
resource (tags), with examples for the intake. Kept apart from the viewsets so they stay
thin; each viewset carries one decorator from here. The error responses every operation
shares (and their examples) are added by crm.api.schema.AutoSchema."""

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_view

from crm.api import idempotency
from crm.api import serializers as s

# view basename (crm.api.urls) -> tag; the tags' order and descriptions: settings.API_TAGS
RESOURCE_TAGS = {
    "contact": "contacts",
    "me": "me",
    "me-contact": "me",
    "lead": "leads",
    "operator": "operators",
    "source": "sources",
    "operator-source": "weights",
    "stats-distribution": "statistics",
    "webhook": "webhooks",
}

_STAFF = "Staff holding the model permission (`view_*` to read, `add_*`, `change_*`, `delete_*` to write)."
_PAGE = " Cursor pagination: follow `next`; `page_size` 1..200."
_UPDATE_RULES = (
    " `max_load` may not drop below `current_load`. Activating an operator, raising `max_load` or "
    "setting `availability: online` hands the new room to waiting contacts at once. `redistribute: true` "
    "together with `is_active: false` or `availability: offline` returns his open contacts to the queue "
    "and routes them to the others."
)
_OPERATOR = " An operator (a login linked to an operator, API key from `create_api_token`)."


def _staff_resource(*, noun: str, plural: str, update_request, create: str, retrieve: str, put: str, patch: str):
    """The five operations of a resource staff configure (operators, sources)."""
    return extend_schema_view(
        list=extend_schema(summary=f"List {plural}", description=f"{plural.capitalize()} by id.{_PAGE} {_STAFF}"),
        create=extend_schema(summary=f"Create {noun}", description=f"{create} {_STAFF}"),
        retrieve=extend_schema(summary=f"Get {noun}", description=f"{retrieve} {_STAFF}"),
        update=extend_schema(
            summary=f"Replace {noun}'s settings", request=update_request, description=f"{put} {_STAFF}"
        ),
        partial_update=extend_schema(
            summary=f"Change {noun}'s settings", request=update_request, description=f"{patch} {_STAFF}"
        ),
    )


operators = _staff_resource(
    noun="an operator",
    plural="operators",
    update_request=s.OperatorUpdateSerializer,
    create="A new operator; `name` is unique regardless of case. He receives contacts once linked to a "
    "source with a weight above 0 (POST /api/v1/operator-sources/).",
    retrieve="One operator and his current load.",
    put="PUT sends every field; defaults apply to those left out." + _UPDATE_RULES,
    patch="PATCH: fields left out keep their value." + _UPDATE_RULES,
)

sources = _staff_resource(
    noun="a source",
    plural="sources",
    update_request=s.SourceUpdateSerializer,
    create="A new source; `name` is unique regardless of case. Contacts of a source without linked "
    "operators wait (`unassigned_reason: no_operators`).",
    retrieve="One source and its routing settings.",
    put="PUT: name, strategy and affinity. A new strategy starts a new smooth round.",
    patch="PATCH: fields left out keep their value. A new strategy starts a new smooth round.",
)

weights = extend_schema_view(
    list=extend_schema(
        summary="List weights",
        description="Operator-source links with their weights, by id; filter by `operator` or `source` "
        "(an unknown id gives an empty page)." + _PAGE + " " + _STAFF,
    ),
    create=extend_schema(
        summary="Link an operator to a source",
        description="The operator serves the source with `weight` (0..1000; 0 keeps the link but pauses "
        "it). A pair that exists already is a 400 naming the existing link. A weight above 0 hands the "
        "new room to the source's waiting contacts at once. " + _STAFF,
    ),
    retrieve=extend_schema(summary="Get a weight", description="One operator-source link. " + _STAFF),
    partial_update=extend_schema(
        summary="Change a weight",
        request=s.OperatorSourceUpdateSerializer,
        description="Only `weight` changes (the pair is fixed: delete the link and create another). "
        "Raising it from 0 hands the new room to the source's waiting contacts at once; every change "
        "starts a new smooth round. " + _STAFF,
    ),
    destroy=extend_schema(
        summary="Unlink an operator from a source",
        description="The operator receives no more contacts of this source; his open ones stay his. " + _STAFF,
    ),
)

_ASSIGNED = {
    "id": 41,
    "lead_id": 7,
    "external_id": "ann@example.org",
    "source_id": 1,
    "operator_id": 3,
    "status": "open",
    "unassigned_reason": "",
    "created_at": "2026-11-26T10:15:00Z",
    "closed_at": None,
}
_WAITING = {**_ASSIGNED, "id": 42, "operator_id": None, "unassigned_reason": "all_at_capacity"}

contacts = extend_schema_view(
    list=extend_schema(
        summary="List contacts",
        description="Newest first; filter by `source`, `operator`, `lead`, `status` or `unassigned`. "
        "Staff with `view_contact` see every contact; a bot sees the contacts it registered." + _PAGE,
    ),
    create=extend_schema(
        summary="Register a contact",
        description="The intake. The lead is found by `external_id` (stripped, lower-cased) or created, "
        "and an operator is chosen at once among those linked to the source: active, weight above 0, "
        "under `max_load`; by weighted random choice or the smooth strategy, with lead affinity when the "
        "source has it. When nobody can take it the contact waits (`operator_id: null`, "
        "`unassigned_reason`) and is handed out, oldest first, as soon as room appears. "
        "Bots (and staff with `add_contact`) may call it; a bot bound to sources may post only to those. "
        "Send an `Idempotency-Key` to make retries safe.",
        request=s.ContactCreateSerializer,
        responses={201: s.ContactSerializer},
        parameters=[idempotency.KEY_PARAMETER, idempotency.REPLAYED_PARAMETER],
        examples=[
            OpenApiExample(
                "A lead writes through source 1",
                value={"external_id": "ann@example.org", "source_id": 1},
                request_only=True,
            ),
            OpenApiExample("Assigned", value=_ASSIGNED, response_only=True, status_codes=["201"]),
            OpenApiExample("Waiting: every operator is full", value=_WAITING, response_only=True, status_codes=["201"]),
        ],
    ),
    retrieve=extend_schema(
        summary="Get a contact",
        description="One contact with `assignment`, the decision that put it where it is: strategy, "
        "affinity, every candidate with weight, load and why he was left out; `null` for callers who "
        "may not read operators (`view_operator`), bots included. Bots get only their own contacts.",
    ),
    close=extend_schema(
        summary="Close a contact",
        description="Closes an open contact and frees its operator's room, which goes at once to the "
        "oldest waiting contacts of the sources he serves. Closing a closed contact changes nothing. "
        "Staff with `change_contact`; the answer is the contact for those who may also read it "
        "(`view_contact`), its id only for the others. An operator may close his own contacts (anyone "
        "else's is a 404, and nothing is written). Takes no body.",
        request=s.EmptyBodySerializer,
        responses={200: s.ContactDetailSerializer},
    ),
    reassign=extend_schema(
        summary="Reassign a contact",
        description="Moves an open contact to `operator_id` (he must serve the source, be active and have "
        "room; any weight), or, without it, routes it again among the source's other eligible operators. "
        "The operator it leaves gets his room back and waiting contacts get it. 400 when the operator "
        "cannot take it, 409 when the contact is closed. Staff with `change_contact`; the answer is the "
        "contact for those who may also read it, its id only for the others.",
        request=s.ContactReassignSerializer,
        responses={200: s.ContactDetailSerializer},
        examples=[
            OpenApiExample("To a given operator", value={"operator_id": 3}, request_only=True),
            OpenApiExample("Route again among the others", value={}, request_only=True),
        ],
    ),
    transfer=extend_schema(
        summary="Transfer a contact",
        description="Hands an open, assigned contact to `operator_id`, who must serve its source and be "
        "eligible now (active, weight above 0, online, not auto-away) with room; otherwise 400 naming why "
        "(not linked, inactive, paused, away, offline, full). The room the contact leaves goes to waiting "
        "contacts. Recorded as `contact.transferred` and `contact.assigned` (via transfer) in its timeline. "
        "Staff with `change_contact`, or an operator for his own contacts (anyone else's is a 404, and "
        "nothing is written).",
        request=s.ContactTransferSerializer,
        responses={200: s.ContactDetailSerializer},
        examples=[OpenApiExample("To a colleague", value={"operator_id": 4}, request_only=True)],
    ),
    events=extend_schema(
        summary="A contact's timeline",
        description="The contact's events, oldest first (the event log, ordered by id): registered, "
        "assigned (`data.via`: intake, queue, affinity, reassign, transfer), waiting (`data.reason`), "
        "transferred, closed, each with its time and actor (bot, staff, operator, system). Staff with "
        "`view_contact`, or an operator for his own contacts.",
        responses={200: s.EventSerializer(many=True)},
        filters=False,
    ),
)

me = extend_schema_view(
    list=extend_schema(
        summary="Who am I",
        description="The operator behind this login: id, name, availability, load against `max_load`, and "
        "the sources he serves (names only)." + _OPERATOR,
        responses={200: s.MeSerializer},
    ),
    availability=extend_schema(
        summary="Set my availability",
        description="`online`, `away` or `offline`. Only online operators receive new contacts; going "
        "online hands you the waiting contacts of your sources at once, oldest first, as far as you have "
        "room. Going offline keeps your open contacts, unless `redistribute: true`: then they go to the "
        "source's other available operators (or wait in the queue, keeping their age). An operator with a "
        "login and no activity (workspace page or API call) for OPERATOR_AWAY_AFTER (30 minutes by default) "
        "counts as away until his next call." + _OPERATOR,
        request=s.MeAvailabilitySerializer,
        responses={200: s.MeSerializer},
        examples=[
            OpenApiExample("Start the day", value={"availability": "online"}, request_only=True),
            OpenApiExample(
                "Leave, handing my contacts over",
                value={"availability": "offline", "redistribute": True},
                request_only=True,
            ),
        ],
    ),
)

my_contacts = extend_schema_view(
    list=extend_schema(
        summary="My contacts",
        description="Your contacts: open ones first, oldest first (your work list), then closed ones; the "
        "filters of /contacts/ (`status`, `source`, `lead`, ...)." + _PAGE + _OPERATOR,
    ),
)

leads = extend_schema_view(
    list=extend_schema(
        summary="List leads",
        description="Newest first; `external_id` finds one lead by its id in the channel, normalised "
        "like the intake's." + _PAGE + " " + _STAFF,
    ),
    retrieve=extend_schema(
        summary="Get a lead",
        description="One lead with their most recent contacts (at most 100). "
        + _STAFF
        + " An operator may read the lead of one of his own contacts, with his own contacts of that lead "
        "only (any other lead is a 404).",
    ),
)

statistics = extend_schema_view(
    list=extend_schema(
        summary="Routing statistics",
        description="Per source and operator: the configured share (weight / sum of weights) against "
        "the actual share of the contacts created since `since` (default: all time), open load against "
        "capacity, and the waiting queue (count, oldest wait). A fixed number of queries whatever the "
        "number of contacts. Staff with `view_contact` and `view_operator`.",
        parameters=[s.DistributionQuerySerializer],
        responses={200: OpenApiResponse(s.SourceDistributionSerializer(many=True), description="One row per source.")},
    ),
)


_SECRET = " The answer carries the signing secret (`whsec_...`) this once: store it, it is never shown again."
webhooks = extend_schema_view(
    list=extend_schema(
        summary="List webhook endpoints",
        description="The URLs that receive signed events (Standard Webhooks), by id, without secrets."
        + _PAGE
        + " "
        + _STAFF,
    ),
    create=extend_schema(
        summary="Register a webhook endpoint",
        request=s.WebhookEndpointSerializer,
        responses={201: s.WebhookEndpointSecretSerializer},
        description="`url` (http or https, a public address), `events` (the event types to receive), "
        "optional `source_id` (only that source's events), `is_active`." + _SECRET + " " + _STAFF,
    ),
    retrieve=extend_schema(summary="Get a webhook endpoint", description="One endpoint, without its secret. " + _STAFF),
    partial_update=extend_schema(
        summary="Change a webhook endpoint",
        request=s.WebhookEndpointUpdateSerializer,
        description="Fields left out keep their value. " + _STAFF,
    ),
    destroy=extend_schema(
        summary="Delete a webhook endpoint",
        description="It receives nothing more; deliveries not yet made are dropped. " + _STAFF,
    ),
    rotate_secret=extend_schema(
        summary="Rotate a webhook endpoint's secret",
        request=None,
        responses={200: s.WebhookEndpointSecretSerializer},
        description="A new secret signs from now on; the previous one signs too for 24 hours, so receivers "
        "can switch without missing a delivery." + _SECRET + " " + _STAFF,
    ),
    test=extend_schema(
        summary="Send a test event",
        request=None,
        responses={202: s.WebhookDeliverySerializer},
        description="Queues a signed `webhook.test` message to the endpoint; the answer is its delivery, "
        "to follow in `deliveries`. " + _STAFF,
    ),
    deliveries=extend_schema(
        summary="Recent deliveries of a webhook endpoint",
        responses={200: s.WebhookDeliverySerializer(many=True)},
        description="The latest 50 deliveries, newest first: status, attempts, next attempt, last status "
        "code and response excerpt. " + _STAFF,
    ),
)
