import factory
from django.contrib.auth import get_user_model

from crm.models import Contact, Lead, Operator, OperatorSource, Source


class OperatorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Operator

    name = factory.Sequence(lambda n: f"operator-{n}")
    is_active = True
    max_load = 10


class SourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Source

    name = factory.Sequence(lambda n: f"source-{n}")


class OperatorSourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OperatorSource

    operator = factory.SubFactory(OperatorFactory)
    source = factory.SubFactory(SourceFactory)
    weight = 10


class LeadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lead

    external_id = factory.Sequence(lambda n: f"lead-{n}@example.com")


class ContactFactory(factory.django.DjangoModelFactory):
    """A contact written directly, around the services: for tests of constraints and reads.
    It does not move the operator's stored load; use the services for that."""

    class Meta:
        model = Contact

    lead = factory.SubFactory(LeadFactory)
    source = factory.SubFactory(SourceFactory)
    operator = None
    unassigned_reason = Contact.UnassignedReason.NO_OPERATORS


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user-{n}")
    is_staff = False
