"""Every crm changelist answers in a fixed number of queries, however many rows it shows."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.services.intake import contact_register
from tests.factories import ContactFactory, OperatorFactory, OperatorSourceFactory, SourceFactory

pytestmark = pytest.mark.django_db


def _make_rows(n: int, rng) -> None:
    src = SourceFactory()
    for _ in range(n):
        op = OperatorFactory(max_load=100)
        OperatorSourceFactory(operator=op, source=src, weight=rng.randint(1, 10))
        OperatorSourceFactory(operator=op, weight=1)
    for i in range(n):
        contact_register(external_id=f"row-{src.pk}-{i}", source_id=src.pk, rng=rng)
        ContactFactory(source=src)  # waiting


CHANGELISTS = {
    # Each starts with 4 queries for the session, the user and his permissions, then COUNT(*)
    # and the page's rows; what follows is per list, and none of it is per row. Tests run in
    # a transaction, so the site's changelist guard adds a SAVEPOINT and its RELEASE (2).
    "/admin/crm/operator/": 11,  # + the sources for the filter, the prefetched links and their sources
    "/admin/crm/source/": 10,  # + the prefetched links and their operators (waiting: a subquery)
    "/admin/crm/lead/": 10,  # + the date hierarchy (first/last, then days)
    "/admin/crm/contact/": 13,  # + sources and operators for the filters and the reassign action, + dates
}


@pytest.mark.parametrize("url", list(CHANGELISTS))
def test_changelist_query_count_does_not_grow_with_rows(admin_client, rng, url, django_assert_num_queries):
    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert admin_client.get(url).status_code == 200
        return len(ctx.captured_queries)

    _make_rows(5, rng)
    small = count()
    _make_rows(45, rng)
    assert count() == small
    with django_assert_num_queries(CHANGELISTS[url]):
        admin_client.get(url)
