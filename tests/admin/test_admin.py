"""The staff workspace in Django admin: every write goes through the services, a refused write
is a form error that leaves the database as it was, and the lists show what staff need."""

import pytest
from django.contrib import admin as django_admin
from django.contrib.admin.models import LogEntry
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from crm.admin.operators import OperatorAdmin
from crm.admin.sources import SourceAdmin
from crm.errors import DomainError
from crm.models import Contact, Operator, OperatorSource, Source
from crm.services import routing_config
from crm.services.intake import contact_register
from crm.services.locking import routing_locked
from tests.factories import (
    ContactFactory,
    LeadFactory,
    OperatorFactory,
    OperatorSourceFactory,
    SourceFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def links_formset(rows: list[dict], *, initial: int = 0) -> dict:
    """POST data for the weights inline (prefix "links")."""
    data = {
        "links-TOTAL_FORMS": str(len(rows)),
        "links-INITIAL_FORMS": str(initial),
        "links-MIN_NUM_FORMS": "0",
        "links-MAX_NUM_FORMS": "1000",
    }
    for i, row in enumerate(rows):
        for key, value in row.items():
            data[f"links-{i}-{key}"] = "" if value is None else str(value)
    return data


def form_errors(response) -> str:
    """All error texts of an admin change form response, as one string."""
    errors = response.context["errors"]
    return " ".join(str(e) for e in errors)


def open_contacts(source: Source, n: int, rng) -> list[Contact]:
    return [contact_register(external_id=f"lead-{source.pk}-{i}", source_id=source.pk, rng=rng) for i in range(n)]


# --- access ---------------------------------------------------------------------------------


def test_anonymous_is_sent_to_the_login_page(client):
    for url in ["/admin/", "/admin/crm/operator/", "/admin/routing/"]:
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_bot_cannot_use_admin(client):
    from crm.services.accounts import bot_create

    user, _ = bot_create(name="a_bot")
    client.force_login(user)
    response = client.get("/admin/crm/contact/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


# --- operators ------------------------------------------------------------------------------


def test_operator_is_created_with_weights_through_services(admin_client, staff_user):
    src = SourceFactory(name="tg")
    data = {"name": "  Ivan ", "is_active": "on", "max_load": "7"}
    data |= links_formset([{"source": src.pk, "weight": 20}])
    response = admin_client.post("/admin/crm/operator/add/", data)
    assert response.status_code == 302, form_errors(response)
    op = Operator.objects.get()
    assert (op.name, op.is_active, op.max_load, op.open_load) == ("Ivan", True, 7, 0)  # stripped by the service
    link = OperatorSource.objects.get()
    assert (link.operator_id, link.source_id, link.weight) == (op.pk, src.pk, 20)
    assert LogEntry.objects.filter(user=staff_user, object_id=str(op.pk)).exists()


def test_lowering_max_load_below_open_load_is_refused_with_the_reason(admin_client, rng):
    src = SourceFactory()
    op = OperatorFactory(name="ivan", max_load=5)
    OperatorSourceFactory(operator=op, source=src)
    open_contacts(src, 3, rng)
    data = {"name": "ivan renamed", "is_active": "on", "max_load": "2"} | links_formset([])
    response = admin_client.post(f"/admin/crm/operator/{op.pk}/change/", data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "3 open contacts" in " ".join(errors["max_load"])
    op.refresh_from_db()
    # The whole save was rolled back: the name did not change either.
    assert (op.name, op.max_load, op.open_load) == ("ivan", 5, 3)
    # The user's input is kept on the re-rendered form.
    assert response.context["adminform"].form["name"].value() == "ivan renamed"


def test_lowering_max_load_error_speaks_russian(admin_client, rng):
    src = SourceFactory()
    op = OperatorFactory(name="ivan", max_load=5)
    OperatorSourceFactory(operator=op, source=src)
    open_contacts(src, 3, rng)
    data = {"name": "ivan", "is_active": "on", "max_load": "1"} | links_formset([])
    response = admin_client.post(f"/admin/crm/operator/{op.pk}/change/", data, HTTP_ACCEPT_LANGUAGE="ru")
    assert response.status_code == 200
    assert "открытых обращений" in " ".join(response.context["adminform"].form.errors["max_load"])
    assert Operator.objects.get(pk=op.pk).max_load == 5


def test_duplicate_operator_name_ignoring_case_is_a_form_error(admin_client):
    OperatorFactory(name="Ivan")
    response = admin_client.post("/admin/crm/operator/add/", {"name": "ivan", "max_load": "3"} | links_formset([]))
    assert response.status_code == 200
    assert "already exists" in " ".join(response.context["adminform"].form.errors["name"])
    assert Operator.objects.count() == 1


@pytest.mark.parametrize(("field", "value"), [("max_load", "100001"), ("max_load", "-1")])
def test_operator_form_checks_ranges(admin_client, field, value):
    data = {"name": "x", "max_load": "3"} | {field: value} | links_formset([])
    response = admin_client.post("/admin/crm/operator/add/", data)
    assert response.status_code == 200 and field in response.context["adminform"].form.errors
    assert not Operator.objects.exists()


def test_weight_above_maximum_is_refused_on_the_inline(admin_client):
    src = SourceFactory()
    data = {"name": "x", "max_load": "3"} | links_formset([{"source": src.pk, "weight": 1001}])
    response = admin_client.post("/admin/crm/operator/add/", data)
    assert response.status_code == 200
    assert not Operator.objects.exists() and not OperatorSource.objects.exists()


def test_bulk_deactivate_and_activate(admin_client):
    a, b, c = OperatorFactory(), OperatorFactory(), OperatorFactory()
    response = admin_client.post(
        "/admin/crm/operator/", {"action": "deactivate", "_selected_action": [a.pk, b.pk]}, follow=True
    )
    assert "2 operators deactivated." in response.content.decode()
    assert list(Operator.objects.order_by("id").values_list("is_active", flat=True)) == [False, False, True]
    admin_client.post("/admin/crm/operator/", {"action": "activate", "_selected_action": [a.pk]})
    assert Operator.objects.get(pk=a.pk).is_active and not Operator.objects.get(pk=b.pk).is_active
    assert Operator.objects.get(pk=c.pk).is_active


def _two_operators_one_source(rng, *, busy_load: int = 2):
    src = SourceFactory()
    busy = OperatorFactory(name="busy", max_load=5)
    spare = OperatorFactory(name="spare", max_load=5, is_active=False)
    OperatorSourceFactory(operator=busy, source=src)
    OperatorSourceFactory(operator=spare, source=src)
    open_contacts(src, busy_load, rng)
    routing_config.operator_update(operator_id=spare.pk, is_active=True)
    return busy, spare


def test_deactivating_with_redistribute_hands_contacts_to_the_others(admin_client, rng):
    busy, spare = _two_operators_one_source(rng)
    data = {"name": "busy", "max_load": "5", "redistribute": "on"} | links_formset([])  # is_active unchecked
    response = admin_client.post(f"/admin/crm/operator/{busy.pk}/change/", data)
    assert response.status_code == 302, form_errors(response)
    busy.refresh_from_db()
    spare.refresh_from_db()
    assert (busy.is_active, busy.open_load, spare.open_load) == (False, 0, 2)
    assert set(Contact.objects.values_list("operator_id", flat=True)) == {spare.pk}


def test_redistribute_while_staying_active_is_refused_on_the_field(admin_client, rng):
    busy, _spare = _two_operators_one_source(rng)
    data = {"name": "busy", "is_active": "on", "max_load": "5", "redistribute": "on"} | links_formset([])
    response = admin_client.post(f"/admin/crm/operator/{busy.pk}/change/", data)
    assert response.status_code == 200
    assert "only when deactivating" in " ".join(response.context["adminform"].form.errors["redistribute"])
    busy.refresh_from_db()
    assert (busy.is_active, busy.open_load) == (True, 2)


def test_deactivate_and_redistribute_action(admin_client, rng):
    busy, spare = _two_operators_one_source(rng, busy_load=5)
    Operator.objects.filter(pk=spare.pk).update(max_load=3)  # room for three of the five
    response = admin_client.post(
        "/admin/crm/operator/", {"action": "deactivate_and_redistribute", "_selected_action": [busy.pk]}, follow=True
    )
    page = response.content.decode()
    assert "1 operator deactivated." in page and "2 more contacts are waiting" in page
    assert Operator.objects.get(pk=spare.pk).open_load == 3
    assert Contact.objects.filter(operator__isnull=True, status="open").count() == 2
    assert not Operator.objects.get(pk=busy.pk).is_active


def test_operators_cannot_be_deleted_from_admin(admin_client):
    op = OperatorFactory()
    assert admin_client.get(f"/admin/crm/operator/{op.pk}/delete/").status_code == 403
    assert Operator.objects.filter(pk=op.pk).exists()


def test_operator_list_shows_load_and_sources_and_filters(admin_client, rng):
    src = SourceFactory(name="tg")
    other = SourceFactory(name="wa")
    full = OperatorFactory(name="full-op", max_load=2)
    idle = OperatorFactory(name="idle-op", max_load=10)
    OperatorSourceFactory(operator=full, source=src, weight=7)
    OperatorSourceFactory(operator=idle, source=other, weight=3)
    open_contacts(src, 2, rng)
    page = admin_client.get("/admin/crm/operator/").content.decode()
    assert "2 / 2" in page and "0 / 10" in page and "tg (7)" in page and "wa (3)" in page
    by_source = admin_client.get(f"/admin/crm/operator/?links__source__id__exact={other.pk}")
    assert [o.name for o in by_source.context["cl"].result_list] == ["idle-op"]
    only_full = admin_client.get("/admin/crm/operator/?load=full")
    assert [o.name for o in only_full.context["cl"].result_list] == ["full-op"]
    searched = admin_client.get("/admin/crm/operator/?q=IDLE")
    assert [o.name for o in searched.context["cl"].result_list] == ["idle-op"]


# --- sources and the weights inline -------------------------------------------------------


def test_source_weights_are_added_changed_and_removed_through_services(admin_client, monkeypatch):
    src = SourceFactory(name="tg")
    ivan, maria, oleg = OperatorFactory(name="ivan"), OperatorFactory(name="maria"), OperatorFactory(name="oleg")
    keep = OperatorSourceFactory(operator=ivan, source=src, weight=10)
    drop = OperatorSourceFactory(operator=maria, source=src, weight=10)
    called = []
    for name in ("link_create", "link_update", "link_delete"):
        original = getattr(routing_config, name)
        monkeypatch.setattr(
            routing_config, name, lambda _orig=original, _name=name, **kw: called.append(_name) or _orig(**kw)
        )
    rows = [
        {"id": keep.pk, "source": src.pk, "operator": ivan.pk, "weight": 30},
        {"id": drop.pk, "source": src.pk, "operator": maria.pk, "weight": 10, "DELETE": "on"},
        {"source": src.pk, "operator": oleg.pk, "weight": 5},
    ]
    response = admin_client.post(
        f"/admin/crm/source/{src.pk}/change/", {"name": "tg", "strategy": "random"} | links_formset(rows, initial=2)
    )
    assert response.status_code == 302, form_errors(response)
    assert sorted(called) == ["link_create", "link_delete", "link_update"]
    weights = dict(OperatorSource.objects.filter(source=src).values_list("operator__name", "weight"))
    assert weights == {"ivan": 30, "oleg": 5}


def test_an_existing_link_keeps_its_operator(admin_client):
    src = SourceFactory()
    ivan, maria = OperatorFactory(), OperatorFactory()
    link = OperatorSourceFactory(operator=ivan, source=src, weight=10)
    rows = [{"id": link.pk, "source": src.pk, "operator": maria.pk, "weight": 11}]
    response = admin_client.post(
        f"/admin/crm/source/{src.pk}/change/", {"name": src.name, "strategy": "random"} | links_formset(rows, initial=1)
    )
    assert response.status_code == 302
    link.refresh_from_db()
    assert (link.operator_id, link.weight) == (ivan.pk, 11)


def test_a_refused_weight_rolls_back_the_whole_save_and_says_why(admin_client, monkeypatch):
    src = SourceFactory(name="tg")
    link = OperatorSourceFactory(source=src, weight=10)

    def refuse(**kwargs):
        raise DomainError("Weights are frozen right now.", field="weight", code="frozen")

    monkeypatch.setattr(routing_config, "link_update", refuse)
    rows = [{"id": link.pk, "source": src.pk, "operator": link.operator_id, "weight": 99}]
    data = {"name": "tg renamed", "strategy": "random"} | links_formset(rows, initial=1)
    response = admin_client.post(f"/admin/crm/source/{src.pk}/change/", data)
    assert response.status_code == 200
    [inline] = response.context["inline_admin_formsets"]
    assert "Weights are frozen right now." in str(inline.formset.non_form_errors())
    assert Source.objects.get(pk=src.pk).name == "tg"  # the source's own change was rolled back too
    assert OperatorSource.objects.get(pk=link.pk).weight == 10


def test_a_link_that_exists_already_is_refused(admin_client):
    src = SourceFactory()
    op = OperatorFactory()
    OperatorSourceFactory(operator=op, source=src, weight=10)
    rows = [{"source": src.pk, "operator": op.pk, "weight": 5}]
    response = admin_client.post(
        f"/admin/crm/source/{src.pk}/change/", {"name": src.name, "strategy": "random"} | links_formset(rows)
    )
    assert response.status_code == 200
    assert OperatorSource.objects.get().weight == 10


def test_source_is_created_with_operators(admin_client):
    op = OperatorFactory(name="ivan")
    data = {"name": "telegram_bot_A", "strategy": "smooth", "affinity": "on"} | links_formset(
        [{"operator": op.pk, "weight": 20}]
    )
    response = admin_client.post("/admin/crm/source/add/", data)
    assert response.status_code == 302, form_errors(response)
    src = Source.objects.get()
    assert (src.name, src.strategy, src.affinity) == ("telegram_bot_A", "smooth", True)
    assert OperatorSource.objects.filter(source=src, operator=op, weight=20).exists()


def test_source_list_shows_weights_shares_and_waiting(admin_client, rng):
    src = SourceFactory(name="tg")
    OperatorSourceFactory(operator=OperatorFactory(name="ivan"), source=src, weight=30)
    OperatorSourceFactory(operator=OperatorFactory(name="maria", is_active=False), source=src, weight=10)
    ContactFactory(source=src)  # waiting
    page = admin_client.get("/admin/crm/source/").content.decode()
    assert "ivan: 30 (75.0 %)" in page and "maria: 10 (25.0 %)" in page
    [row] = admin_client.get("/admin/crm/source/").context["cl"].result_list
    assert row.waiting == 1


def test_source_page_shows_each_weights_share(admin_client):
    src = SourceFactory()
    OperatorSourceFactory(source=src, weight=1)
    OperatorSourceFactory(source=src, weight=3)
    page = admin_client.get(f"/admin/crm/source/{src.pk}/change/").content.decode()
    assert "25.0 %" in page and "75.0 %" in page


def test_source_strategy_and_affinity_change_through_the_service(admin_client, monkeypatch):
    src = SourceFactory(name="tg")
    calls = []
    original = routing_config.source_update
    monkeypatch.setattr(routing_config, "source_update", lambda **kw: calls.append(kw) or original(**kw))
    data = {"name": "tg", "strategy": "smooth", "affinity": "on"} | links_formset([])
    assert admin_client.post(f"/admin/crm/source/{src.pk}/change/", data).status_code == 302
    assert calls == [{"source_id": src.pk, "name": "tg", "strategy": "smooth", "affinity": True}]
    src.refresh_from_db()
    assert (src.strategy, src.affinity) == ("smooth", True)


# --- leads ----------------------------------------------------------------------------------


def test_lead_search_is_normalised_like_the_api(admin_client):
    LeadFactory(external_id="user@example.com")
    LeadFactory(external_id="other@example.com")
    response = admin_client.get("/admin/crm/lead/", {"q": "  User@Example.COM "})
    assert [lead.external_id for lead in response.context["cl"].result_list] == ["user@example.com"]


def test_lead_page_lists_its_contacts_read_only(admin_client, rng):
    src = SourceFactory(name="tg")
    OperatorSourceFactory(operator=OperatorFactory(name="ivan"), source=src)
    contact = contact_register(external_id="u@x", source_id=src.pk, rng=rng)
    response = admin_client.get(f"/admin/crm/lead/{contact.lead_id}/change/")
    page = response.content.decode()
    assert f"#{contact.pk}" in page and "ivan" in page and "tg" in page
    assert not response.context["has_change_permission"]


# --- contacts -------------------------------------------------------------------------------


def test_contact_filters_waiting_status_and_search(admin_client, rng):
    src = SourceFactory()
    OperatorSourceFactory(operator=OperatorFactory(max_load=1), source=src)
    assigned = contact_register(external_id="A@x", source_id=src.pk, rng=rng)
    waiting = contact_register(external_id="b@x", source_id=src.pk, rng=rng)
    assert assigned.operator_id and waiting.operator_id is None

    def ids(params):
        return [c.pk for c in admin_client.get("/admin/crm/contact/", params).context["cl"].result_list]

    assert ids({"waiting": "yes"}) == [waiting.pk]
    assert ids({"waiting": "no"}) == [assigned.pk]
    assert ids({"status__exact": "open"}) == [waiting.pk, assigned.pk]
    assert ids({"q": " a@X "}) == [assigned.pk]
    assert ids({"q": f"#{waiting.pk}"}) == [waiting.pk]
    assert ids({"operator__id__exact": assigned.operator_id}) == [assigned.pk]


def test_close_action_closes_through_the_service_and_frees_capacity(admin_client, rng):
    src = SourceFactory()
    op = OperatorFactory(max_load=5)
    OperatorSourceFactory(operator=op, source=src)
    a, b, c = open_contacts(src, 3, rng)
    response = admin_client.post(
        "/admin/crm/contact/", {"action": "close_contacts", "_selected_action": [a.pk, b.pk]}, follow=True
    )
    assert "2 contacts closed." in response.content.decode()
    statuses = dict(Contact.objects.values_list("pk", "status"))
    assert statuses == {a.pk: "closed", b.pk: "closed", c.pk: "open"}
    op.refresh_from_db()
    assert op.open_load == 1
    # Closing again changes nothing.
    admin_client.post("/admin/crm/contact/", {"action": "close_contacts", "_selected_action": [a.pk]})
    assert Operator.objects.get(pk=op.pk).open_load == 1


def test_close_button_on_the_contact_page(admin_client, rng):
    src = SourceFactory()
    op = OperatorFactory()
    OperatorSourceFactory(operator=op, source=src)
    [contact] = open_contacts(src, 1, rng)
    page = admin_client.get(f"/admin/crm/contact/{contact.pk}/change/").content.decode()
    assert 'id="close-contact"' in page
    assert admin_client.get(f"/admin/crm/contact/{contact.pk}/close/").status_code == 405
    response = admin_client.post(f"/admin/crm/contact/{contact.pk}/close/")
    assert response.status_code == 302
    assert Contact.objects.get(pk=contact.pk).status == "closed"
    assert Operator.objects.get(pk=op.pk).open_load == 0
    assert 'id="close-contact"' not in admin_client.get(f"/admin/crm/contact/{contact.pk}/change/").content.decode()


def test_staff_without_change_permission_cannot_close(client, rng):
    from django.contrib.auth.models import Permission

    user = UserFactory(is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="crm", codename__startswith="view_"))
    client.force_login(user)
    src = SourceFactory()
    OperatorSourceFactory(source=src)
    [contact] = open_contacts(src, 1, rng)
    assert client.post(f"/admin/crm/contact/{contact.pk}/close/").status_code == 403
    client.post("/admin/crm/contact/", {"action": "close_contacts", "_selected_action": [contact.pk]})
    assert Contact.objects.get(pk=contact.pk).status == "open"


def test_reassign_action_to_a_chosen_operator_and_by_routing(admin_client, rng):
    busy, spare = _two_operators_one_source(rng)
    a, b = Contact.objects.order_by("id")
    response = admin_client.post(
        "/admin/crm/contact/",
        {"action": "reassign_contacts", "_selected_action": [a.pk], "operator": spare.pk},
        follow=True,
    )
    assert "1 contact reassigned." in response.content.decode()
    assert Contact.objects.get(pk=a.pk).operator_id == spare.pk
    admin_client.post(
        "/admin/crm/contact/", {"action": "reassign_contacts", "_selected_action": [b.pk], "operator": ""}
    )
    assert Contact.objects.get(pk=b.pk).operator_id == spare.pk  # routing: the only other one
    assert (Operator.objects.get(pk=busy.pk).open_load, Operator.objects.get(pk=spare.pk).open_load) == (0, 2)


def test_refused_reassignment_is_an_error_message_and_changes_nothing(admin_client, rng):
    busy, _spare = _two_operators_one_source(rng)
    [a, _] = Contact.objects.order_by("id")
    response = admin_client.post(
        "/admin/crm/contact/",
        {"action": "reassign_contacts", "_selected_action": [a.pk], "operator": busy.pk},  # already his
        follow=True,
    )
    page = response.content.decode()
    assert "0 contacts reassigned." in page and f"#{a.pk}: " in page
    assert Contact.objects.get(pk=a.pk).operator_id == busy.pk


def test_reassign_button_on_the_contact_page(admin_client, rng):
    _busy, spare = _two_operators_one_source(rng)
    contact = Contact.objects.order_by("id").first()
    response = admin_client.get(f"/admin/crm/contact/{contact.pk}/change/")
    assert [op.name for op in response.context["reassign_operators"]] == ["spare"]
    response = admin_client.post(f"/admin/crm/contact/{contact.pk}/reassign/", {"operator_id": spare.pk}, follow=True)
    assert "is now with spare" in response.content.decode()
    contact.refresh_from_db()
    assert contact.operator_id == spare.pk and contact.assignment["via"] == "reassign"
    assert "<th>how</th><td>reassigned</td>" in response.content.decode()


def test_contact_page_is_read_only_and_shows_the_decision(admin_client):
    contact = ContactFactory(
        assignment={
            "via": "intake",
            "strategy": "random",
            "affinity": None,
            "operator_id": 2,
            "reason": "",
            "candidates": [
                {"operator_id": 1, "name": "ivan", "weight": 20, "load": 3, "max_load": 3, "excluded": "full"},
                {"operator_id": 2, "name": "maria", "weight": 10, "load": 0, "max_load": 5, "excluded": None},
            ],
            "extra": {"future": "field"},
        }
    )
    response = admin_client.get(f"/admin/crm/contact/{contact.pk}/change/")
    page = response.content.decode()
    assert not response.context["has_change_permission"]
    assert "<th>how</th><td>on registration</td>" in page
    assert "<th>strategy</th><td>weighted random</td>" in page
    assert "<th>chosen operator</th><td>maria (#2)</td>" in page
    assert "<td>ivan (#1)</td><td>20</td><td>3 / 3</td><td>full</td>" in page
    assert '<tr class="crm-chosen"><td>maria (#2)</td><td>10</td><td>0 / 5</td><td>chosen</td>' in page
    assert "&quot;future&quot;: &quot;field&quot;" in page  # unknown parts are shown, not hidden
    assert admin_client.get("/admin/crm/contact/add/").status_code == 403


def test_a_real_decision_renders(admin_client, rng):
    src = SourceFactory()
    OperatorSourceFactory(operator=OperatorFactory(name="ivan"), source=src)
    [contact] = open_contacts(src, 1, rng)
    page = admin_client.get(f"/admin/crm/contact/{contact.pk}/change/").content.decode()
    assert "<th>how</th><td>on registration</td>" in page and "<td>chosen</td>" in page


def test_contact_page_without_a_decision(admin_client):
    contact = ContactFactory()
    assert "No decision recorded." in admin_client.get(f"/admin/crm/contact/{contact.pk}/change/").content.decode()


# --- changelists do not grow in queries with rows ------------------------------------------


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
    # and the page's rows; what follows is per list, and none of it is per row.
    "/admin/crm/operator/": 9,  # + the sources for the filter, the prefetched links and their sources
    "/admin/crm/source/": 8,  # + the prefetched links and their operators (waiting: a subquery)
    "/admin/crm/lead/": 8,  # + the date hierarchy (first/last, then days)
    "/admin/crm/contact/": 11,  # + sources and operators for the filters and the reassign action, + dates
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


def test_nul_in_admin_search_and_autocomplete_is_not_a_500(client, django_user_model):
    admin_user = django_user_model.objects.create_superuser("nul-admin", password="pw-12345678")
    client.force_login(admin_user)
    r = client.get(
        "/admin/autocomplete/", {"app_label": "crm", "model_name": "contact", "field_name": "operator", "term": "\x00"}
    )
    assert r.status_code == 200
    r = client.get("/admin/crm/operator/", {"q": "iv\x00an"})
    assert r.status_code == 200


def test_an_operator_save_locks_his_sources_operators_and_the_new_links_not_everyone(rf):
    ivan, colleague, newcomer, stranger = (OperatorFactory() for _ in range(4))
    served = SourceFactory()
    OperatorSourceFactory(operator=ivan, source=served)
    OperatorSourceFactory(operator=colleague, source=served)
    joined = SourceFactory()  # Ivan is being linked to it on this save
    OperatorSourceFactory(operator=newcomer, source=joined)
    OperatorSourceFactory(operator=stranger)  # an unrelated source
    request = rf.post("/", links_formset([{"source": joined.pk, "weight": 1}]))
    scope = OperatorAdmin(Operator, django_admin.site).routing_lock_scope(request, str(ivan.pk))
    with transaction.atomic(), routing_locked(**scope) as ctx:
        assert set(ctx.operators) == {ivan.pk, colleague.pk, newcomer.pk}
    request = rf.post("/", links_formset([{"operator": stranger.pk, "weight": 1}]))
    scope = SourceAdmin(Source, django_admin.site).routing_lock_scope(request, str(served.pk))
    with transaction.atomic(), routing_locked(**scope) as ctx:
        assert set(ctx.operators) == {ivan.pk, colleague.pk, stranger.pk}
