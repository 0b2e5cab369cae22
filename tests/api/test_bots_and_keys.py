"""Bots bound to their sources, bots reading back their own contacts, API keys listed by
prefix and revoked. Each rule has a test that fails when the rule is removed."""

import io
import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from knox.models import AuthToken
from rest_framework.test import APIClient

from crm.models import BotSource, Contact, IdempotencyKey, Lead
from crm.services.accounts import api_token_revoke
from crm.services.intake import contact_register
from tests.factories import OperatorSourceFactory, SourceFactory

pytestmark = pytest.mark.django_db


def create_bot(*args) -> tuple[APIClient, str]:
    out = io.StringIO()
    call_command("create_bot", *args, stdout=out, stderr=io.StringIO())
    key = out.getvalue().strip().splitlines()[-1]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client, key


def test_create_bot_with_sources_binds_them_by_name_or_id():
    a, b, _c = SourceFactory(name="telegram_A"), SourceFactory(name="site"), SourceFactory()
    create_bot("tg", "--source", "TELEGRAM_a", "--source", str(b.pk))
    assert set(BotSource.objects.values_list("user__username", "source_id")) == {("tg", a.pk), ("tg", b.pk)}


def test_create_bot_with_unknown_source_is_an_error_and_creates_nothing():
    SourceFactory(name="telegram_A")
    with pytest.raises(CommandError, match="nope"):
        create_bot("tg", "--source", "telegram_A", "--source", "nope")
    assert not AuthToken.objects.exists() and not BotSource.objects.exists()
    from django.contrib.auth import get_user_model

    assert not get_user_model().objects.filter(username="tg").exists()


def test_bound_bot_posts_to_its_source():
    src = SourceFactory()
    bot, _ = create_bot("tg", "--source", str(src.pk))
    r = bot.post("/api/v1/contacts/", {"external_id": "a", "source_id": src.pk}, format="json")
    assert r.status_code == 201
    assert Contact.objects.get().registered_by.username == "tg"


def test_bound_bot_posting_to_another_source_is_403_and_writes_nothing():
    mine, other = SourceFactory(), OperatorSourceFactory().source
    bot, _ = create_bot("tg", "--source", str(mine.pk))
    r = bot.post(
        "/api/v1/contacts/", {"external_id": "a", "source_id": other.pk}, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert r.status_code == 403
    assert Contact.objects.count() == 0 and Lead.objects.count() == 0 and IdempotencyKey.objects.count() == 0


def test_unbound_bot_may_post_to_every_source():
    bot, _ = create_bot("free")
    for src in (SourceFactory(), SourceFactory()):
        assert (
            bot.post("/api/v1/contacts/", {"external_id": "a", "source_id": src.pk}, format="json").status_code == 201
        )


def test_bound_source_cannot_be_deleted_from_under_the_bot():
    """Deleting the only bound source would silently let the bot post everywhere."""
    from django.db.models import ProtectedError

    src = SourceFactory()
    create_bot("tg", "--source", str(src.pk))
    with pytest.raises(ProtectedError):
        src.delete()


def test_bot_reads_back_only_its_own_contacts():
    src = SourceFactory()
    bot_a, _ = create_bot("bot_a")
    bot_b, _ = create_bot("bot_b")
    mine = bot_a.post("/api/v1/contacts/", {"external_id": "a", "source_id": src.pk}, format="json").json()
    theirs = bot_b.post("/api/v1/contacts/", {"external_id": "b", "source_id": src.pk}, format="json").json()
    staffs = contact_register(external_id="c", source_id=src.pk)
    r = bot_a.get("/api/v1/contacts/")
    assert r.status_code == 200 and [c["id"] for c in r.json()["results"]] == [mine["id"]]
    # The detail has the decision record's key, empty for bots (it names operators and loads).
    assert bot_a.get(f"/api/v1/contacts/{mine['id']}").json() == {**mine, "assignment": None}
    assert bot_a.get(f"/api/v1/contacts/{theirs['id']}").status_code == 404
    assert bot_a.get(f"/api/v1/contacts/{staffs.pk}").status_code == 404
    assert [c["id"] for c in bot_a.get(f"/api/v1/contacts/?source={src.pk}").json()["results"]] == [mine["id"]]


@pytest.mark.parametrize(
    "path", ["/api/v1/operators/", "/api/v1/sources/", "/api/v1/operator-sources/", "/api/v1/leads/"]
)
def test_bot_never_sees_configuration(path):
    bot, _ = create_bot("bot_a")
    OperatorSourceFactory()
    assert bot.get(path).status_code == 403


def test_staff_sees_every_contact(staff_client):
    src = SourceFactory()
    bot, _ = create_bot("bot_a")
    bot.post("/api/v1/contacts/", {"external_id": "a", "source_id": src.pk}, format="json")
    contact_register(external_id="c", source_id=src.pk)
    assert len(staff_client.get("/api/v1/contacts/").json()["results"]) == 2


def test_plain_user_reads_no_contacts(plain_user_client):
    contact_register(external_id="c", source_id=SourceFactory().pk)
    assert plain_user_client.get("/api/v1/contacts/").status_code == 403


# --- keys -----------------------------------------------------------------------------------


def test_api_keys_list_shows_prefixes_never_keys():
    _, key = create_bot("bot_a")
    out = io.StringIO()
    call_command("api_keys", "list", stdout=out, stderr=io.StringIO())
    assert key[:15] in out.getvalue() and "bot_a" in out.getvalue()
    assert key[:16] not in out.getvalue()


def test_revoked_key_is_refused_at_once():
    src = SourceFactory()
    bot, key = create_bot("bot_a")
    _, other_key = create_bot("bot_b")
    assert bot.post("/api/v1/contacts/", {"external_id": "a", "source_id": src.pk}, format="json").status_code == 201
    call_command("api_keys", "revoke", key[:10], stdout=io.StringIO())
    r = bot.post("/api/v1/contacts/", {"external_id": "b", "source_id": src.pk}, format="json")
    assert r.status_code == 401
    assert Contact.objects.count() == 1
    assert AuthToken.objects.filter(token_key=other_key[:15]).exists()  # only that key went


def test_revoke_unknown_prefix_is_an_error():
    create_bot("bot_a")
    with pytest.raises(CommandError, match="No API key"):
        call_command("api_keys", "revoke", "zzzzzzzz", stdout=io.StringIO())
    assert AuthToken.objects.count() == 1


def test_admin_lists_key_prefixes_and_deleting_revokes(admin_client):
    bot, key = create_bot("bot_a")
    token = AuthToken.objects.get()
    page = admin_client.get("/admin/crm/apikey/").content.decode()
    # The digest (knox's primary key, in the URLs) is a hash: it cannot authenticate.
    assert key[:15] in page and key not in page
    r = admin_client.post(f"/admin/crm/apikey/{token.pk}/delete/", {"post": "yes"})
    assert r.status_code == 302
    assert bot.get("/api/v1/contacts/").status_code == 401


@pytest.mark.django_db(transaction=True)
def test_key_revoked_through_the_service_is_refused_by_a_thread_that_already_used_it():
    """Authentication compiles its lookup once per connection but caches no answer: a key
    revoked elsewhere is refused on the next request of a worker that has just accepted it."""
    src = SourceFactory()
    bot, key = create_bot("bot_a")
    statuses: list[int] = []
    revoked, asked = threading.Event(), threading.Event()

    def worker() -> None:  # one worker thread: its own connection and compiled lookup
        try:
            post = lambda ext: bot.post("/api/v1/contacts/", {"external_id": ext, "source_id": src.pk}, format="json")  # noqa: E731
            statuses.append(post("before").status_code)
            asked.set()
            revoked.wait(timeout=30)
            statuses.append(post("after").status_code)
        finally:
            connections.close_all()

    thread = threading.Thread(target=worker)
    thread.start()
    asked.wait(timeout=30)
    api_token_revoke(prefix=key[:10])
    revoked.set()
    thread.join(timeout=60)
    assert statuses == [201, 401]
    assert list(Contact.objects.values_list("lead__external_id", flat=True)) == ["before"]
    assert not AuthToken.objects.filter(token_key=key[:15]).exists()


def test_authentication_reads_the_key_on_every_request():
    """The compiled lookup runs on every request, the same on the second request as on the
    first: nothing answers from a cache."""
    bot, _key = create_bot("bot_a")
    lookups = []
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            assert bot.get("/api/v1/contacts/").status_code == 200
        lookups.append([q["sql"] for q in queries.captured_queries if "knox_authtoken" in q["sql"]])
    assert len(lookups[0]) == 1
    assert lookups[1] == lookups[0]
