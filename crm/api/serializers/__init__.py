"""Shapes of the API: types, lengths and ranges; one module per resource. Cross-row rules live
in crm.services. Viewsets use them as `from crm.api import serializers as s`."""

from crm.api.serializers.base import (  # noqa: F401
    IdField,
    StrictFieldsMixin,
    StrictModelSerializer,
    StrictSerializer,
)
from crm.api.serializers.contacts import (  # noqa: F401
    METADATA_SCHEMA,
    AssignmentRecordSerializer,
    CandidateRecordSerializer,
    ContactCreateSerializer,
    ContactDetailSerializer,
    ContactReassignSerializer,
    ContactSerializer,
    ContactTransferSerializer,
    EmptyBodySerializer,
    EventSerializer,
    MeAvailabilitySerializer,
    MeSerializer,
    MeSourceSerializer,
    MetadataField,
)
from crm.api.serializers.leads import (  # noqa: F401
    LeadDetailSerializer,
    LeadSerializer,
)
from crm.api.serializers.routing import (  # noqa: F401
    DistributionQuerySerializer,
    OperatorSerializer,
    OperatorShareSerializer,
    OperatorSourceSerializer,
    OperatorSourceUpdateSerializer,
    OperatorUpdateSerializer,
    SourceDistributionSerializer,
    SourceSerializer,
    SourceUpdateSerializer,
)
from crm.api.serializers.webhooks import (  # noqa: F401
    WebhookDeliverySerializer,
    WebhookEndpointSecretSerializer,
    WebhookEndpointSerializer,
    WebhookEndpointUpdateSerializer,
)
