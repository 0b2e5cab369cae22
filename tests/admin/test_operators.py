"""Operators in the admin: created and changed through the services, a refused change is a form
error that leaves the row as it was, bulk actions, and the list with its load and filters."""

import pytest
from django.contrib.admin.models import LogEntry

from crm.models import Contact, Operator, OperatorSource
from tests.admin.helpers import form_errors, links_formset, open_contacts, two_operators_one_source
from tests.factories import OperatorFactory, OperatorSourceFactory, SourceFactory

pytestmark = pytest.mark.django_db


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


def test_deactivating_with_redistribute_hands_contacts_to_the_others(admin_client, rng):
    busy, spare = two_operators_one_source(rng)
    data = {"name": "busy", "max_load": "5", "redistribute": "on"} | links_formset([])  # is_active unchecked
    response = admin_client.post(f"/admin/crm/operator/{busy.pk}/change/", data)
    assert response.status_code == 302, form_errors(response)
    busy.refresh_from_db()
    spare.refresh_from_db()
    assert (busy.is_active, busy.open_load, spare.open_load) == (False, 0, 2)
    assert set(Contact.objects.values_list("operator_id", flat=True)) == {spare.pk}


def test_redistribute_while_staying_active_is_refused_on_the_field(admin_client, rng):
    busy, _spare = two_operators_one_source(rng)
    data = {"name": "busy", "is_active": "on", "max_load": "5", "redistribute": "on"} | links_formset([])
    response = admin_client.post(f"/admin/crm/operator/{busy.pk}/change/", data)
    assert response.status_code == 200
    assert "only when deactivating" in " ".join(response.context["adminform"].form.errors["redistribute"])
    busy.refresh_from_db()
    assert (busy.is_active, busy.open_load) == (True, 2)


def test_deactivate_and_redistribute_action(admin_client, rng):
    busy, spare = two_operators_one_source(rng, busy_load=5)
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
