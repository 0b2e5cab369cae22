"""The routing dashboard at /admin/routing/: what it shows is what the database holds."""

from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import Permission
from django.db.models import Count, Q
from django.utils import timezone

from crm.models import Contact, Operator, OperatorSource
from crm.services.contacts import contact_close
from crm.services.intake import contact_register
from tests.factories import OperatorFactory, OperatorSourceFactory, SourceFactory, UserFactory

pytestmark = pytest.mark.django_db


class _Tags(HTMLParser):
    """Every start tag with its attributes, in document order."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def tags(response) -> list[tuple[str, dict]]:
    parser = _Tags()
    parser.feed(response.content.decode())
    return parser.tags


def with_class(response, css_class: str) -> list[dict]:
    return [attrs for _, attrs in tags(response) if css_class in (attrs.get("class") or "").split()]


def by_id(response, element_id: str) -> dict:
    [attrs] = [attrs for _, attrs in tags(response) if attrs.get("id") == element_id]
    return attrs


@pytest.fixture
def routed(rng):
    """Two sources, three operators (one inactive, one that fills up), contacts of today and
    of ten days ago, some closed, some waiting."""
    tg, wa = SourceFactory(name="tg"), SourceFactory(name="wa")
    ivan = OperatorFactory(name="ivan", max_load=20)
    maria = OperatorFactory(name="maria", max_load=2)
    anna = OperatorFactory(name="anna", is_active=False)
    OperatorSourceFactory(operator=ivan, source=tg, weight=30)
    OperatorSourceFactory(operator=maria, source=tg, weight=10)
    OperatorSourceFactory(operator=anna, source=wa, weight=10)
    old = [contact_register(external_id=f"old-{i}", source_id=tg.pk, rng=rng) for i in range(6)]
    Contact.objects.filter(pk__in=[c.pk for c in old]).update(created_at=timezone.now() - timedelta(days=10))
    for c in old[:4]:
        contact_close(contact_id=c.pk)
    for i in range(10):
        contact_register(external_id=f"new-{i}", source_id=tg.pk, rng=rng)
    for i in range(3):
        contact_register(external_id=f"wa-{i}", source_id=wa.pk, rng=rng)  # anna is inactive: they wait
    return {"tg": tg, "wa": wa, "ivan": ivan, "maria": maria, "anna": anna}


@pytest.mark.parametrize(("window", "since"), [("24h", timedelta(hours=24)), ("7d", timedelta(days=7)), ("all", None)])
def test_shown_numbers_match_the_database(admin_client, routed, window, since):
    response = admin_client.get("/admin/routing/", {"window": window})
    assert response.status_code == 200
    contacts = Contact.objects.all()
    if since is not None:
        contacts = contacts.filter(created_at__gte=timezone.now() - since)

    for source in (routed["tg"], routed["wa"]):
        in_window = contacts.filter(source=source)
        box = by_id(response, f"source-{source.pk}")
        waiting = Contact.objects.filter(source=source, status="open", operator__isnull=True).count()
        assert int(box["data-contacts"]) == in_window.count()
        assert int(box["data-assigned"]) == in_window.filter(operator__isnull=False).count()
        assert int(box["data-waiting"]) == waiting

        assigned = in_window.filter(operator__isnull=False).count()
        links = {link.operator_id: link.weight for link in OperatorSource.objects.filter(source=source)}
        per_operator = dict(in_window.values_list("operator_id").annotate(n=Count("id")))
        rows = [r for r in with_class(response, "crm-share-row") if r in _rows_in(response, source.pk)]
        assert {int(r["data-operator-id"]) for r in rows} == set(links)
        for row in rows:
            op_id = int(row["data-operator-id"])
            n = per_operator.get(op_id, 0)
            assert int(row["data-weight"]) == links[op_id]
            assert int(row["data-contacts"]) == n
            assert float(row["data-configured"]) == pytest.approx(100 * links[op_id] / sum(links.values()), abs=0.05)
            assert float(row["data-actual"]) == pytest.approx(100 * n / assigned if assigned else 0, abs=0.05)

    for row in with_class(response, "operator-row"):
        op = Operator.objects.get(pk=row["data-operator-id"])
        recount = Contact.objects.filter(operator=op, status="open").count()
        assert (int(row["data-open-load"]), int(row["data-max-load"])) == (recount, op.max_load)
        assert row["data-full"] == ("1" if recount >= op.max_load else "0")
        assert row["data-active"] == ("1" if op.is_active else "0")

    total_waiting = Contact.objects.filter(status="open", operator__isnull=True).count()
    assert int(by_id(response, "total-waiting")["data-value"]) == total_waiting
    assert int(by_id(response, "total-contacts")["data-value"]) == contacts.count()


def _rows_in(response, source_id: int) -> list[dict]:
    """The share rows inside one source's box (they follow its opening tag until the next box)."""
    all_tags = tags(response)
    start = next(i for i, (_, a) in enumerate(all_tags) if a.get("id") == f"source-{source_id}")
    rows = []
    for _, attrs in all_tags[start + 1 :]:
        if (attrs.get("id") or "").startswith("source-") or attrs.get("id") == "operators":
            break
        if "crm-share-row" in (attrs.get("class") or "").split():
            rows.append(attrs)
    return rows


def test_windows_count_different_contacts(admin_client, routed):
    def total(window):
        return admin_client.get("/admin/routing/", {"window": window}).context["totals"]["contacts"]

    assert (total("24h"), total("7d"), total("all")) == (13, 13, 19)
    assert admin_client.get("/admin/routing/", {"window": "bogus"}).context["window"] == "24h"


def test_full_and_inactive_operators_are_marked(admin_client, routed):
    response = admin_client.get("/admin/routing/")
    rows = {r["data-operator-id"]: r for r in with_class(response, "operator-row")}
    maria, anna = rows[str(routed["maria"].pk)], rows[str(routed["anna"].pk)]
    assert "crm-row-full" in maria["class"] and maria["data-full"] == "1"
    assert "crm-row-inactive" in anna["class"] and anna["data-active"] == "0"
    assert "crm-row-full" not in rows[str(routed["ivan"].pk)]["class"]


def test_waiting_per_source_with_the_oldest_wait(admin_client, routed):
    Contact.objects.filter(source=routed["wa"]).update(created_at=timezone.now() - timedelta(hours=3))
    response = admin_client.get("/admin/routing/")
    waiting_rows = {r["data-source-id"]: r for r in with_class(response, "waiting-row")}
    expected = dict(
        Contact.objects.filter(status="open", operator__isnull=True).values_list("source_id").annotate(n=Count("id"))
    )
    assert {int(k): int(v["data-waiting"]) for k, v in waiting_rows.items()} == expected
    assert int(waiting_rows[str(routed["wa"].pk)]["data-oldest-seconds"]) >= 3 * 3600 - 5
    assert "3\xa0hours" in response.content.decode()


def test_query_count_does_not_grow_with_contacts(admin_client, routed, rng, django_assert_num_queries):
    # session, user, 2 × permissions, then distribution_stats (5), the operators (1), and who
    # is at work: the active operators (1) and the contacts waiting for nobody online (1).
    with django_assert_num_queries(12):
        admin_client.get("/admin/routing/?window=all")
    for i in range(40):
        contact_register(external_id=f"more-{i}", source_id=routed["tg"].pk, rng=rng)
    with django_assert_num_queries(12):
        admin_client.get("/admin/routing/?window=all")


def test_empty_database(admin_client):
    response = admin_client.get("/admin/routing/")
    assert response.status_code == 200
    assert "No sources yet." in response.content.decode()


def test_linked_from_the_admin_index(admin_client):
    assert 'href="/admin/routing/"' in admin_client.get("/admin/").content.decode()


def test_staff_only(client):
    assert client.get("/admin/routing/").status_code == 302  # to the login page
    plain = UserFactory()
    client.force_login(plain)
    assert client.get("/admin/routing/").status_code == 302
    staff = UserFactory(is_staff=True)  # staff, but may not read contacts
    client.force_login(staff)
    assert client.get("/admin/routing/").status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_contact"))
    assert client.get("/admin/routing/").status_code == 200


def test_waiting_filter_link_matches_the_list(admin_client, routed):
    response = admin_client.get(f"/admin/crm/contact/?source__id__exact={routed['wa'].pk}&waiting=yes")
    shown = {c.pk for c in response.context["cl"].result_list}
    waiting = Contact.objects.filter(Q(source=routed["wa"]), status="open", operator__isnull=True)
    assert shown == set(waiting.values_list("pk", flat=True)) and shown
