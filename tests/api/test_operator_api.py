"""Operators' logins and their API: /me/, /me/contacts/, /me/availability/, close and transfer
of their own contacts only; everything else of the routing set-up stays closed to them."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from crm.models import ActorKind, Contact, Event, EventType, Operator
from crm.services.accounts import OPERATORS_GROUP, operator_login_create
from crm.services.contacts import contact_close
from crm.services.intake import contact_register
from tests.factories import OperatorFactory, OperatorSourceFactory, SourceFactory, UserFactory
from tests.operator_fixtures import operator_client, with_login

pytestmark = pytest.mark.django_db

Availability = Operator.Availability


@pytest.fixture
def team(rng):
    """One source served by two operators with logins (ann, bob) and a third without (cid)."""
    source = SourceFactory()
    ann = with_login(OperatorFactory(name="ann", max_load=3))
    bob = with_login(OperatorFactory(name="bob", max_load=3))
    cid = OperatorFactory(name="cid", max_load=1)
    for op in (ann, bob, cid):
        OperatorSourceFactory(source=source, operator=op, weight=1)
    return {"source": source, "ann": ann, "bob": bob, "cid": cid}


def contact_of(operator, source, rng, external_id):
    """Register a contact and move it to `operator` (the routing picks at random)."""
    contact = contact_register(external_id=external_id, source_id=source.pk, rng=rng)
    if contact.operator_id != operator.pk:
        from crm.services.contacts import contact_reassign

        contact = contact_reassign(contact_id=contact.pk, operator_id=operator.pk)
    return Contact.objects.get(pk=contact.pk)


# --- Logins ----------------------------------------------------------------------------------------


def test_create_operator_login_prints_the_password_alone_on_the_last_line(capsys):
    operator = OperatorFactory()
    call_command("create_operator_login", str(operator.pk), "ann")
    password = capsys.readouterr().out.strip().splitlines()[-1]
    user = get_user_model().objects.get(username="ann")
    assert user.check_password(password) and not user.is_staff
    assert user.groups.filter(name=OPERATORS_GROUP).exists()
    assert Operator.objects.get(pk=operator.pk).user_id == user.pk
    call_command("create_api_token", "ann")
    key = capsys.readouterr().out.strip().splitlines()[-1]
    assert key


def test_create_operator_login_links_an_existing_plain_user_with_a_new_password():
    user = UserFactory(username="bob")
    operator = OperatorFactory()
    _, password = operator_login_create(operator_id=operator.pk, username="bob")
    user.refresh_from_db()
    assert user.check_password(password)
    assert Operator.objects.get(pk=operator.pk).user_id == user.pk
    # Again for the same pair: a new password, the same link.
    _, again = operator_login_create(operator_id=operator.pk, username="bob")
    assert again != password and Operator.objects.get(pk=operator.pk).user_id == user.pk


@pytest.mark.parametrize(
    "case",
    ["staff_user", "someone_elses_login", "unknown_operator", "operator_has_another_login", "bad_username"],
)
def test_create_operator_login_refusals_write_nothing(case):
    operator = OperatorFactory()
    username, operator_id = "newname", operator.pk
    if case == "staff_user":
        UserFactory(username="boss", is_staff=True)
        username = "boss"
    elif case == "someone_elses_login":
        other = OperatorFactory()
        operator_login_create(operator_id=other.pk, username="taken")
        username = "taken"
    elif case == "unknown_operator":
        operator_id = 424242
    elif case == "operator_has_another_login":
        operator_login_create(operator_id=operator.pk, username="first")
    elif case == "bad_username":
        username = "no spaces allowed!"
    users_before = set(get_user_model().objects.values_list("username", "password"))
    links_before = list(Operator.objects.order_by("id").values_list("id", "user_id"))
    with pytest.raises(CommandError):
        call_command("create_operator_login", str(operator_id), username)
    assert set(get_user_model().objects.values_list("username", "password")) == users_before
    assert list(Operator.objects.order_by("id").values_list("id", "user_id")) == links_before


# --- /me/ ----------------------------------------------------------------------------------------


def test_me_shows_his_operator(team):
    client = operator_client(team["ann"])
    r = client.get("/api/v1/me/")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["id"] == team["ann"].pk and body["name"] == "ann"
    assert body["availability"] == "online" and body["load"] == 0 and body["max_load"] == 3
    assert body["sources"] == [{"id": team["source"].pk, "name": team["source"].name}]
    assert "weight" not in str(body)


def test_me_is_for_operators_only(bot_client, staff_client, anon_client, plain_user_client):
    assert anon_client.get("/api/v1/me/").status_code == 401
    for client in (bot_client, staff_client, plain_user_client):
        assert client.get("/api/v1/me/").status_code == 403


def test_me_contacts_lists_his_own_open_first_oldest_first(team, rng):
    ann, source = team["ann"], team["source"]
    a1 = contact_of(ann, source, rng, "a1")
    a2 = contact_of(ann, source, rng, "a2")
    a3 = contact_of(ann, source, rng, "a3")
    contact_of(team["bob"], source, rng, "b1")
    contact_close(contact_id=a1.pk)
    client = operator_client(ann)
    r = client.get("/api/v1/me/contacts/")
    assert r.status_code == 200, r.content
    assert [c["id"] for c in r.json()["results"]] == [a2.pk, a3.pk, a1.pk]
    closed = client.get("/api/v1/me/contacts/", {"status": "closed"}).json()["results"]
    assert [c["id"] for c in closed] == [a1.pk]
    page = client.get("/api/v1/me/contacts/", {"page_size": 1}).json()
    second = client.get(page["next"]).json()
    assert [c["id"] for c in page["results"] + second["results"]] == [a2.pk, a3.pk]


def test_me_availability_online_drains_and_offline_keeps(team, rng):
    ann = team["ann"]
    Operator.objects.filter(pk__in=[team["bob"].pk, team["cid"].pk]).update(availability="offline")
    client = operator_client(ann)
    assert client.post("/api/v1/me/availability/", {"availability": "offline"}, format="json").status_code == 200
    waiting = contact_register(external_id="w", source_id=team["source"].pk, rng=rng)
    assert waiting.unassigned_reason == "nobody_online"
    r = client.post("/api/v1/me/availability/", {"availability": "online"}, format="json")
    assert r.status_code == 200 and r.json()["availability"] == "online" and r.json()["load"] == 1
    assert Contact.objects.get(pk=waiting.pk).operator_id == ann.pk
    events = Event.objects.filter(type=EventType.OPERATOR_AVAILABILITY_CHANGED, operator=ann)
    assert [e.data["availability"] for e in events] == ["offline", "online"]
    assert {e.actor_kind for e in events} == {ActorKind.OPERATOR}


def test_me_availability_offline_with_redistribute(team, rng):
    ann, bob = team["ann"], team["bob"]
    contact = contact_of(ann, team["source"], rng, "x")
    client = operator_client(ann)
    r = client.post("/api/v1/me/availability/", {"availability": "offline", "redistribute": True}, format="json")
    assert r.status_code == 200, r.content
    assert Contact.objects.get(pk=contact.pk).operator_id in (bob.pk, team["cid"].pk)


@pytest.mark.parametrize(
    "body",
    [{"availability": "busy"}, {}, {"availability": "online", "redistribute": True}, {"availability": None}],
)
def test_me_availability_bad_input_is_400_and_writes_nothing(team, body):
    client = operator_client(team["ann"])
    Operator.objects.filter(pk=team["ann"].pk).update(availability="away")
    r = client.post("/api/v1/me/availability/", body, format="json")
    assert r.status_code == 400, r.content
    assert Operator.objects.get(pk=team["ann"].pk).availability == "away"
    assert not Event.objects.filter(type=EventType.OPERATOR_AVAILABILITY_CHANGED).exists()


# --- Close and transfer: his own only ---------------------------------------------------------------


def test_operator_closes_his_own_contact(team, rng):
    contact = contact_of(team["ann"], team["source"], rng, "x")
    r = operator_client(team["ann"]).post(f"/api/v1/contacts/{contact.pk}/close/")
    assert r.status_code == 200, r.content
    assert Contact.objects.get(pk=contact.pk).status == "closed"
    closed = Event.objects.get(type=EventType.CONTACT_CLOSED)
    assert closed.actor_kind == ActorKind.OPERATOR and closed.actor_user_id == team["ann"].user_id


def test_someone_elses_contact_is_404_and_untouched(team, rng):
    theirs = contact_of(team["bob"], team["source"], rng, "x")
    waiting = contact_register(external_id="w", source_id=SourceFactory().pk, rng=rng)
    client = operator_client(team["ann"])
    events_before = Event.objects.count()
    for contact in (theirs, waiting):
        assert client.post(f"/api/v1/contacts/{contact.pk}/close/").status_code == 404
        r = client.post(f"/api/v1/contacts/{contact.pk}/transfer/", {"operator_id": team["ann"].pk}, format="json")
        assert r.status_code == 404
        assert client.get(f"/api/v1/contacts/{contact.pk}/events/").status_code == 404
    assert Contact.objects.get(pk=theirs.pk).operator_id == team["bob"].pk
    assert Contact.objects.get(pk=theirs.pk).status == "open"
    assert Event.objects.count() == events_before


def test_operator_transfers_his_contact_to_a_colleague(team, rng):
    ann, bob = team["ann"], team["bob"]
    contact = contact_of(ann, team["source"], rng, "x")
    r = operator_client(ann).post(f"/api/v1/contacts/{contact.pk}/transfer/", {"operator_id": bob.pk}, format="json")
    assert r.status_code == 200, r.content
    assert r.json()["operator_id"] == bob.pk and r.json()["assignment"] is None
    assert Operator.objects.get(pk=ann.pk).open_load == 0 and Operator.objects.get(pk=bob.pk).open_load == 1
    transferred = Event.objects.get(type=EventType.CONTACT_TRANSFERRED)
    assert transferred.data == {"from_operator_id": ann.pk, "to_operator_id": bob.pk}
    assert transferred.actor_kind == ActorKind.OPERATOR
    assigned = Event.objects.filter(contact=contact, type=EventType.CONTACT_ASSIGNED).last()
    assert assigned.data["via"] == "transfer" and assigned.operator_id == bob.pk
    # His timeline is his to read.
    timeline = operator_client(bob).get(f"/api/v1/contacts/{contact.pk}/events/")
    assert timeline.status_code == 200 and timeline.json()[-1]["type"] == "contact.assigned"


@pytest.mark.parametrize("why", ["full", "offline", "away", "inactive", "paused", "not_linked", "same_operator"])
def test_transfer_refusals_are_400_naming_why_and_write_nothing(team, rng, why):
    ann, bob = team["ann"], team["bob"]
    contact = contact_of(ann, team["source"], rng, "x")
    target = bob
    if why == "full":
        Operator.objects.filter(pk=bob.pk).update(max_load=0)
    elif why in ("offline", "away"):
        Operator.objects.filter(pk=bob.pk).update(availability=why)
    elif why == "inactive":
        Operator.objects.filter(pk=bob.pk).update(is_active=False)
    elif why == "paused":
        bob.links.update(weight=0)
    elif why == "not_linked":
        target = OperatorFactory()
    elif why == "same_operator":
        target = ann
    events_before = Event.objects.count()
    r = operator_client(ann).post(f"/api/v1/contacts/{contact.pk}/transfer/", {"operator_id": target.pk}, format="json")
    assert r.status_code == 400, r.content
    # An operator may not read his colleagues (their state, load, links): he learns only that
    # this one cannot take the contact (tests/api/test_refusal_privacy.py).
    if why == "same_operator":
        assert "already with" in r.json()["operator_id"][0]
    else:
        assert r.json() == {"operator_id": [f"Operator {target.pk} cannot take this contact."]}
    assert Contact.objects.get(pk=contact.pk).operator_id == ann.pk
    assert Operator.objects.get(pk=ann.pk).open_load == 1
    assert Event.objects.count() == events_before


def test_staff_transfers_too(team, rng, staff_client):
    contact = contact_of(team["ann"], team["source"], rng, "x")
    r = staff_client.post(f"/api/v1/contacts/{contact.pk}/transfer/", {"operator_id": team["bob"].pk}, format="json")
    assert r.status_code == 200, r.content
    assert Event.objects.get(type=EventType.CONTACT_TRANSFERRED).actor_kind == ActorKind.STAFF


def test_bots_cannot_transfer(team, rng, bot_client):
    contact = contact_register(external_id="x", source_id=team["source"].pk, rng=rng, registered_by=bot_client.user)
    r = bot_client.post(f"/api/v1/contacts/{contact.pk}/transfer/", {"operator_id": team["bob"].pk}, format="json")
    assert r.status_code == 403


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/operators/",
        "/api/v1/sources/",
        "/api/v1/operator-sources/",
        "/api/v1/contacts/",
        "/api/v1/leads/",
        "/api/v1/stats/distribution/",
    ],
)
def test_operators_cannot_read_the_routing_set_up_or_other_lists(team, path):
    assert operator_client(team["ann"]).get(path).status_code == 403


def test_operators_cannot_register_or_reassign(team, rng):
    client = operator_client(team["ann"])
    contact = contact_of(team["ann"], team["source"], rng, "x")
    r = client.post("/api/v1/contacts/", {"external_id": "y", "source_id": team["source"].pk}, format="json")
    assert r.status_code == 403
    r = client.post(f"/api/v1/contacts/{contact.pk}/reassign/", {"operator_id": team["bob"].pk}, format="json")
    assert r.status_code == 403
    assert Contact.objects.count() == 1


def test_an_api_call_is_activity(team, clock):
    ann = team["ann"]
    clock.advance(minutes=40)
    operator_client(ann).get("/api/v1/me/")
    assert Operator.objects.get(pk=ann.pk).last_seen_at == clock.now


# --- Staff: availability on /operators/ ------------------------------------------------------------


def test_staff_see_and_set_availability(staff_client, team, rng):
    bob = team["bob"]
    r = staff_client.get(f"/api/v1/operators/{bob.pk}/")
    assert r.json()["availability"] == "online" and r.json()["routing_availability"] == "online"
    assert r.json()["has_login"] is True
    r = staff_client.patch(f"/api/v1/operators/{bob.pk}/", {"availability": "away"}, format="json")
    assert r.status_code == 200 and r.json()["availability"] == "away"
    assert Operator.objects.get(pk=bob.pk).availability == "away"
    r = staff_client.patch(f"/api/v1/operators/{bob.pk}/", {"availability": "lunch"}, format="json")
    assert r.status_code == 400


def test_an_operator_reads_his_contacts_lead_with_his_contacts_only(team, rng):
    ann, bob, source = team["ann"], team["bob"], team["source"]
    mine = contact_register(external_id="shared", source_id=source.pk, rng=rng, name="Anna Petrova")
    if mine.operator_id != ann.pk:
        from crm.services.contacts import contact_reassign

        contact_reassign(contact_id=mine.pk, operator_id=ann.pk)
    theirs = contact_of(bob, source, rng, "shared")
    other = contact_of(bob, source, rng, "someone-else")
    client = operator_client(ann)
    r = client.get(f"/api/v1/leads/{mine.lead_id}/")
    assert r.status_code == 200, r.content
    assert r.json()["name"] == "Anna Petrova"
    assert [c["id"] for c in r.json()["contacts"]] == [mine.pk]
    assert theirs.lead_id == mine.lead_id
    assert client.get(f"/api/v1/leads/{other.lead_id}/").status_code == 404
    assert client.get("/api/v1/leads/").status_code == 403
