"""Contacts in the admin: filters, closing and reassigning through the services (actions and
buttons on the page; the reassign choice offers exactly whom the service accepts), who may do
it, and the page's timeline."""

import pytest

from crm.errors import DomainError
from crm.models import Contact, Operator
from crm.selectors import contact_reassign_targets
from crm.services.contacts import contact_reassign
from crm.services.intake import contact_register
from tests.admin.helpers import open_contacts, two_operators_one_source
from tests.factories import ContactFactory, OperatorFactory, OperatorSourceFactory, SourceFactory, UserFactory

pytestmark = pytest.mark.django_db


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
    busy, spare = two_operators_one_source(rng)
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
    busy, _spare = two_operators_one_source(rng)
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
    _busy, spare = two_operators_one_source(rng)
    contact = Contact.objects.order_by("id").first()
    response = admin_client.get(f"/admin/crm/contact/{contact.pk}/change/")
    assert [op.name for op in response.context["reassign_operators"]] == ["spare"]
    response = admin_client.post(f"/admin/crm/contact/{contact.pk}/reassign/", {"operator_id": spare.pk}, follow=True)
    assert "is now with spare" in response.content.decode()
    contact.refresh_from_db()
    assert contact.operator_id == spare.pk and contact.assignment["via"] == "reassign"
    assert "<th>how</th><td>reassigned</td>" in response.content.decode()


def test_contact_admin_page_shows_the_timeline(client, staff_user, rng):
    link = OperatorSourceFactory()
    contact = contact_register(external_id="a", source_id=link.source_id, rng=rng)
    client.force_login(staff_user)
    page = client.get(f"/admin/crm/contact/{contact.pk}/change/").content.decode()
    assert "contact registered" in page and "contact assigned" in page
    assert link.operator.name in page


def test_reassign_choice_is_exactly_whom_the_service_accepts(admin_client, rng):
    source = SourceFactory()
    current = OperatorFactory(name="current", max_load=5)
    OperatorSourceFactory(operator=current, source=source, weight=10)
    contact = contact_register(external_id="lead-1", source_id=source.pk, rng=rng)
    assert contact.operator_id == current.pk
    others = {
        "room": OperatorFactory(name="room", max_load=3),
        "paused": OperatorFactory(name="paused", max_load=3),
        "full": OperatorFactory(name="full", max_load=0),
        "inactive": OperatorFactory(name="inactive", max_load=3, is_active=False),
    }
    for name, operator in others.items():
        OperatorSourceFactory(operator=operator, source=source, weight=0 if name == "paused" else 10)
    OperatorFactory(name="elsewhere")  # serves another source

    page = admin_client.get(f"/admin/crm/contact/{contact.pk}/change/")
    offered = [op.name for op in page.context["reassign_operators"]]
    assert offered == ["paused", "room"]
    assert offered == [op.name for op in contact_reassign_targets(source_id=source.pk, current_operator_id=current.pk)]

    # Every operator not offered is refused by the service, and nothing moves.
    for operator in Operator.objects.exclude(name__in=offered):
        with pytest.raises(DomainError):
            contact_reassign(contact_id=contact.pk, operator_id=operator.pk)
        assert Contact.objects.get(pk=contact.pk).operator_id == current.pk
    # Every operator offered is accepted.
    for name in offered:
        moved = contact_reassign(contact_id=contact.pk, operator_id=others[name].pk)
        assert moved.operator_id == others[name].pk


def test_contact_page_has_one_close_and_a_way_back(admin_client, rng):
    source = SourceFactory()
    OperatorSourceFactory(source=source)
    contact = contact_register(external_id="lead-2", source_id=source.pk, rng=rng)
    page = admin_client.get(f"/admin/crm/contact/{contact.pk}/change/").content.decode()
    assert page.count('id="close-contact"') == 1
    assert 'class="closelink"' in page and ">Back to the contact list</a>" in page
    assert ">Close</a>" not in page


def test_operator_filter_names_the_contacts_without_one(admin_client):
    ContactFactory()  # waiting: no operator
    page = admin_client.get("/admin/crm/contact/").content.decode()
    filters = page[page.index('id="changelist-filter"') :]
    assert "no operator" in filters
    assert ">-</a>" not in filters and ">-\n" not in filters
