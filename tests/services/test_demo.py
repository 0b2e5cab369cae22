"""The demo data."""

import pytest

from crm.models import Operator, OperatorSource, Source
from crm.services.demo import demo_seed

pytestmark = pytest.mark.django_db


def test_demo_seed_is_idempotent():
    first = demo_seed()
    assert first["operators"] > 0
    counts = (Operator.objects.count(), Source.objects.count(), OperatorSource.objects.count())
    assert demo_seed() == {"operators": 0, "sources": 0, "weights": 0}
    assert counts == (Operator.objects.count(), Source.objects.count(), OperatorSource.objects.count())
