"""The domain: operators serve sources with weights; leads come in through sources as contacts.

Every rule a database can hold is a constraint here, so bad rows cannot exist even when they
are written around the services. The one cross-row rule, "an operator never has more open
contacts than max_load", is held by a stored counter (`Operator.open_load`) that the services
keep in step with the contacts under a row lock, and a CHECK that the counter never exceeds
`max_load`.

One module per concern; every name is imported from here (`from crm.models import Contact`),
as the settings' enum paths (`crm.models.ContactStatus`) are.
"""

from crm.models.access import (  # noqa: F401
    IDEMPOTENCY_KEY_MAX_LENGTH,
    ApiKey,
    BotSource,
    IdempotencyKey,
    ThrottleBucket,
)
from crm.models.audit import (  # noqa: F401
    ActorKind,
    Event,
    EventType,
    EventVia,
    RoutingChange,
    RoutingChangeAction,
    RoutingObjectType,
)
from crm.models.contacts import (  # noqa: F401
    CONTACT_WAITING,
    Contact,
    ContactQuerySet,
    ContactStatus,
    OperatorContact,
    UnassignedReason,
)
from crm.models.decisions import (  # noqa: F401
    AffinityOutcome,
    AssignmentVia,
    DecisionStrategy,
    Exclusion,
)
from crm.models.leads import (  # noqa: F401
    Lead,
)
from crm.models.limits import (  # noqa: F401
    EMAIL_MAX_LENGTH,
    EXTERNAL_ID_MAX_LENGTH,
    ID_PATH_REGEX,
    LEAD_NAME_MAX_LENGTH,
    MAX_CAPACITY,
    MAX_ID,
    MAX_PATH_ID,
    MAX_WEIGHT,
    MESSAGE_MAX_LENGTH,
    METADATA_MAX_BYTES,
    NAME_MAX_LENGTH,
    PHONE_MAX_LENGTH,
    id_from_text,
)
from crm.models.routing import (  # noqa: F401
    Operator,
    OperatorAvailability,
    OperatorSource,
    Source,
    SourceStrategy,
)
from crm.models.webhooks import (  # noqa: F401
    WEBHOOK_EXCERPT_MAX_LENGTH,
    WEBHOOK_URL_MAX_LENGTH,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEventType,
)
