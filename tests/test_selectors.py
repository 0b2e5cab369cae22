from datetime import timedelta

import pytest
from django.utils import timezone

from crm.models import Contact
from crm.selectors import distribution_stats
from tests.factories import ContactFactory, LeadFactory, OperatorFactory, OperatorSourceFactory, SourceFactory

pytestmark = pytest.mark.django_db


def test_distribution_stats_configured_actual_waiting(django_assert_max_num_queries):
    src = SourceFactory(name="tg")
    a = OperatorFactory(name="a", max_load=2)
    b = OperatorFactory(name="b", max_load=5)
    OperatorSourceFactory(operator=a, source=src, weight=30)
    OperatorSourceFactory(operator=b, source=src, weight=10)
    lead = LeadFactory()
    for op, n in ((a, 3), (b, 1)):
        for _ in range(n):
            ContactFactory(lead=lead, source=src, operator=op, unassigned_reason="")
    old = ContactFactory(lead=lead, source=src)  # waiting
    Contact.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=2))
    ContactFactory(lead=lead, source=src)
    with django_assert_max_num_queries(5):
        [stats] = distribution_stats(source_id=src.pk)
    assert stats["contacts"] == 6 and stats["assigned"] == 4 and stats["waiting"] == 2
    assert stats["oldest_wait_seconds"] >= 2 * 3600 - 5
    ops = {o["operator_name"]: o for o in stats["operators"]}
    assert ops["a"]["configured_share"] == pytest.approx(0.75)
    assert ops["a"]["actual_share"] == pytest.approx(0.75) and ops["a"]["contacts"] == 3
    assert ops["b"]["configured_share"] == pytest.approx(0.25)


def test_distribution_stats_window_and_unlinked_operator():
    src = SourceFactory()
    gone = OperatorFactory(name="gone")
    recent = ContactFactory(source=src, operator=gone, unassigned_reason="")
    old = ContactFactory(source=src, operator=gone, unassigned_reason="")
    Contact.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))
    [stats] = distribution_stats(source_id=src.pk, since=timezone.now() - timedelta(days=7))
    assert stats["contacts"] == 1
    [row] = stats["operators"]
    assert (row["operator_name"], row["weight"], row["contacts"], row["actual_share"]) == ("gone", 0, 1, 1.0)
    assert recent.pk
    assert distribution_stats(source_id=src.pk)[0]["contacts"] == 2
