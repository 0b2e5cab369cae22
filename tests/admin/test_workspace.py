"""The operator's workspace in the admin: he logs in, lands on My contacts (his own open
contacts only), closes and transfers, switches availability; every staff screen and every
other operator's contact stays closed to him (querysets and URLs, not only the menu)."""

import pytest
from django.contrib.auth.models import Permission

from crm.models import ActorKind, Contact, Event, EventType, Operator
from crm.selectors import lead_profile_visible
from crm.services.accounts import operator_login_create
from crm.services.contacts import contact_reassign
from crm.services.intake import contact_register
from tests.factories import OperatorFactory, OperatorSourceFactory, SourceFactory, UserFactory
from tests.operator_fixtures import with_login

pytestmark = pytest.mark.django_db

MY_CONTACTS = "/admin/crm/operatorcontact/"


@pytest.fixture
def team(rng):
    source = SourceFactory()
    ann = with_login(OperatorFactory(name="ann", max_load=3))
    bob = with_login(OperatorFactory(name="bob", max_load=3))
    for op in (ann, bob):
        OperatorSourceFactory(source=source, operator=op, weight=1)
    return {"source": source, "ann": ann, "bob": bob}


def contact_for(operator, source, rng, external_id, **profile):
    contact = contact_register(external_id=external_id, source_id=source.pk, rng=rng, **profile)
    if contact.operator_id != operator.pk:
        contact = contact_reassign(contact_id=contact.pk, operator_id=operator.pk)
    return Contact.objects.get(pk=contact.pk)


def logged_in(client, operator):
    client.force_login(operator.user)
    return client


def test_an_operator_logs_in_with_his_password_and_lands_on_my_contacts(client):
    operator = OperatorFactory(name="ann")
    _, password = operator_login_create(operator_id=operator.pk, username="ann")
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "ann", "password": password, "next": "/admin/"}, follow=True
    )
    assert response.redirect_chain[-1][0] == MY_CONTACTS
    assert response.status_code == 200 and "My contacts" in response.content.decode()


def test_a_plain_user_still_cannot_log_in(client):
    user = UserFactory(username="nobody")
    user.set_password("pw-123456-x")
    user.save()
    response = client.post("/admin/login/", {"username": "nobody", "password": "pw-123456-x"})
    assert response.status_code == 200 and not response.wsgi_request.user.is_authenticated


def test_my_contacts_lists_his_open_contacts_oldest_first_with_the_lead(client, team, rng):
    ann, bob, source = team["ann"], team["bob"], team["source"]
    first = contact_for(ann, source, rng, "a1", name="Anna Petrova", phone="+79123456789", message="Hello, help me")
    second = contact_for(ann, source, rng, "a2")
    theirs = contact_for(bob, source, rng, "b1", name="Boris Secret")
    response = logged_in(client, ann).get(MY_CONTACTS)
    assert response.status_code == 200
    rows = list(response.context["cl"].result_list)
    assert [c.pk for c in rows] == [first.pk, second.pk]
    page = response.content.decode()
    assert "Anna Petrova" in page and "+79123456789" in page and "Hello, help me" in page
    assert "Boris Secret" not in page
    assert f"{MY_CONTACTS}{theirs.pk}/change/" not in page
    assert 'id="availability-switch"' in page and 'id="my-load"' in page


def test_another_operators_contact_is_404_by_url_and_untouched(client, team, rng):
    theirs = contact_for(team["bob"], team["source"], rng, "b1")
    client = logged_in(client, team["ann"])
    assert client.get(f"{MY_CONTACTS}{theirs.pk}/change/").status_code in (302, 404)
    assert client.post(f"{MY_CONTACTS}{theirs.pk}/close/").status_code == 404
    assert client.post(f"{MY_CONTACTS}{theirs.pk}/transfer/", {"operator_id": team["ann"].pk}).status_code == 404
    contact = Contact.objects.get(pk=theirs.pk)
    assert contact.status == "open" and contact.operator_id == team["bob"].pk
    assert not Event.objects.filter(type__in=[EventType.CONTACT_CLOSED, EventType.CONTACT_TRANSFERRED]).exists()


@pytest.mark.parametrize(
    "url",
    [
        "/admin/crm/contact/",
        "/admin/crm/operator/",
        "/admin/crm/source/",
        "/admin/crm/lead/",
        "/admin/crm/routingchange/",
        "/admin/routing/",
        "/admin/auth/user/",
    ],
)
def test_staff_screens_are_closed_to_operators(client, team, url):
    response = logged_in(client, team["ann"]).get(url)
    assert response.status_code == 403


def test_staff_screens_refuse_an_operators_write(client, team, rng):
    contact = contact_for(team["bob"], team["source"], rng, "b1")
    client = logged_in(client, team["ann"])
    assert client.post(f"/admin/crm/contact/{contact.pk}/close/").status_code == 403
    assert client.post(f"/admin/crm/operator/{team['bob'].pk}/change/", {"name": "x"}).status_code == 403
    assert Contact.objects.get(pk=contact.pk).status == "open"


def test_he_closes_his_contact_from_its_page(client, team, rng):
    contact = contact_for(team["ann"], team["source"], rng, "a1")
    client = logged_in(client, team["ann"])
    page = client.get(f"{MY_CONTACTS}{contact.pk}/change/")
    assert page.status_code == 200 and 'id="close-contact"' in page.content.decode()
    response = client.post(f"{MY_CONTACTS}{contact.pk}/close/")
    assert response.status_code == 302
    assert Contact.objects.get(pk=contact.pk).status == "closed"
    closed = Event.objects.get(type=EventType.CONTACT_CLOSED)
    assert closed.actor_kind == ActorKind.OPERATOR and closed.actor_user_id == team["ann"].user_id


def test_he_closes_several_with_the_list_action(client, team, rng):
    contacts = [contact_for(team["ann"], team["source"], rng, f"a{i}") for i in range(2)]
    response = logged_in(client, team["ann"]).post(
        MY_CONTACTS, {"action": "close_selected", "_selected_action": [c.pk for c in contacts]}
    )
    assert response.status_code == 302
    assert Contact.objects.filter(status="closed").count() == 2


def test_he_transfers_his_contact_to_a_colleague(client, team, rng):
    contact = contact_for(team["ann"], team["source"], rng, "a1")
    client = logged_in(client, team["ann"])
    page = client.get(f"{MY_CONTACTS}{contact.pk}/change/").content.decode()
    assert f'<option value="{team["bob"].pk}">bob</option>' in page
    response = client.post(f"{MY_CONTACTS}{contact.pk}/transfer/", {"operator_id": team["bob"].pk})
    assert response.status_code == 302
    assert Contact.objects.get(pk=contact.pk).operator_id == team["bob"].pk
    assert Event.objects.get(type=EventType.CONTACT_TRANSFERRED).actor_kind == ActorKind.OPERATOR


def test_a_refused_transfer_says_why_and_writes_nothing(client, team, rng):
    contact = contact_for(team["ann"], team["source"], rng, "a1")
    Operator.objects.filter(pk=team["bob"].pk).update(availability="offline")
    client = logged_in(client, team["ann"])
    response = client.post(f"{MY_CONTACTS}{contact.pk}/transfer/", {"operator_id": team["bob"].pk}, follow=True)
    assert "offline" in response.content.decode()
    assert Contact.objects.get(pk=contact.pk).operator_id == team["ann"].pk
    assert not Event.objects.filter(type=EventType.CONTACT_TRANSFERRED).exists()


def test_the_availability_switch_drains_when_he_goes_online(client, team, rng):
    ann = team["ann"]
    Operator.objects.filter(pk__in=[ann.pk, team["bob"].pk]).update(availability="offline")
    waiting = contact_register(external_id="w", source_id=team["source"].pk, rng=rng)
    assert waiting.unassigned_reason == "nobody_online"
    response = logged_in(client, ann).post("/admin/availability/", {"availability": "online", "next": MY_CONTACTS})
    assert response.status_code == 302 and response.url == MY_CONTACTS
    assert Operator.objects.get(pk=ann.pk).availability == "online"
    assert Contact.objects.get(pk=waiting.pk).operator_id == ann.pk


def test_the_switch_refuses_a_foreign_next_url(client, team):
    response = logged_in(client, team["ann"]).post(
        "/admin/availability/", {"availability": "away", "next": "https://evil.example/"}
    )
    assert response.url == MY_CONTACTS


def test_a_workspace_page_is_activity(client, team, clock):
    clock.advance(minutes=45)
    logged_in(client, team["ann"]).get(MY_CONTACTS)
    assert Operator.objects.get(pk=team["ann"].pk).last_seen_at == clock.now


def test_staff_do_not_see_my_contacts(client, staff_user):
    client.force_login(staff_user)
    assert client.get(MY_CONTACTS).status_code == 403
    assert "My contacts" not in client.get("/admin/").content.decode()


# --- Staff: availability, logins from the operator's page ------------------------------------------


def test_staff_see_availability_on_the_operators_list_and_dashboard(client, staff_user, team, rng, clock):
    Operator.objects.filter(pk=team["bob"].pk).update(availability="offline")
    client.force_login(staff_user)
    page = client.get("/admin/crm/operator/").content.decode()
    assert "online" in page and "offline" in page
    clock.advance(minutes=45)
    contact_register(external_id="w", source_id=team["source"].pk, rng=rng)
    dashboard = client.get("/admin/routing/")
    assert dashboard.context["availability"]["waiting_nobody_online"] == 1
    assert 'id="availability-table"' in dashboard.content.decode()
    assert "away (idle)" in dashboard.content.decode()


def test_staff_create_a_login_and_key_from_the_operators_page(client, staff_user):
    staff_user.user_permissions.add(Permission.objects.get(codename="add_user"))
    operator = OperatorFactory()
    client.force_login(staff_user)
    response = client.post(
        f"/admin/crm/operator/{operator.pk}/login/", {"username": "newop", "api_key": "on"}, follow=True
    )
    page = response.content.decode()
    assert "password (shown once)" in page and "API key (shown once)" in page
    assert Operator.objects.get(pk=operator.pk).user.username == "newop"


def test_staff_without_user_rights_cannot_create_logins(client, staff_user):
    operator = OperatorFactory()
    client.force_login(staff_user)
    assert client.post(f"/admin/crm/operator/{operator.pk}/login/", {"username": "x"}).status_code == 403
    assert Operator.objects.get(pk=operator.pk).user_id is None


# --- The profile rule ------------------------------------------------------------------------------


def test_lead_profile_is_visible_to_the_operator_holding_a_contact_only(team, rng, staff_user):
    contact = contact_for(team["ann"], team["source"], rng, "a1", name="Anna")
    lead = contact.lead
    assert lead_profile_visible(user=team["ann"].user, lead=lead) is True
    assert lead_profile_visible(user=team["bob"].user, lead=lead) is False
    assert lead_profile_visible(user=staff_user, lead=lead) is True
    assert lead_profile_visible(user=team["ann"].user) is False
