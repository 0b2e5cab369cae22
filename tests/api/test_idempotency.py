"""Idempotent intake: a retry with the same Idempotency-Key never makes a second contact."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from crm.models import Contact, IdempotencyKey, Lead, Operator
from crm.services.accounts import bot_create
from tests.conftest import run_concurrently
from tests.factories import OperatorFactory, OperatorSourceFactory, SourceFactory

URL = "/api/v1/contacts/"


def post(client, body, key=None, **extra):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(URL, body, format="json", **headers, **extra)


@pytest.mark.django_db
class TestIdempotentIntake:
    def test_repeat_with_same_key_and_body_replays_the_first_response(self, bot_client):
        link = OperatorSourceFactory()
        body = {"external_id": "ann@x.org", "source_id": link.source_id}
        first = post(bot_client, body, key="order-1")
        assert first.status_code == 201 and "Idempotent-Replayed" not in first
        again = post(bot_client, {"source_id": link.source_id, "external_id": "ann@x.org"}, key="order-1")
        assert again.status_code == 201
        assert again["Idempotent-Replayed"] == "true"
        assert again.json() == first.json()
        assert Contact.objects.count() == 1
        assert Operator.objects.get(pk=link.operator_id).open_load == 1
        stored = IdempotencyKey.objects.get()
        assert (stored.key, stored.user_id, stored.contact_id) == ("order-1", bot_client.user.pk, first.json()["id"])
        assert stored.response_status == 201 and stored.response_body == first.json()

    def test_same_key_with_another_body_is_422_and_writes_nothing(self, bot_client):
        src = SourceFactory()
        assert post(bot_client, {"external_id": "a", "source_id": src.pk}, key="k").status_code == 201
        r = post(bot_client, {"external_id": "b", "source_id": src.pk}, key="k")
        assert r.status_code == 422
        assert "Idempotency-Key" in r.json()
        assert Contact.objects.count() == 1 and Lead.objects.count() == 1 and IdempotencyKey.objects.count() == 1

    def test_without_a_key_every_post_is_a_new_contact(self, bot_client):
        src = SourceFactory()
        for _ in range(2):
            assert post(bot_client, {"external_id": "a", "source_id": src.pk}).status_code == 201
        assert Contact.objects.count() == 2 and IdempotencyKey.objects.count() == 0

    def test_keys_are_scoped_per_client(self, bot_client):
        src = SourceFactory()
        other = APIClient()
        _, key = bot_create(name="other_bot")
        other.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        body = {"external_id": "a", "source_id": src.pk}
        assert post(bot_client, body, key="shared").status_code == 201
        r = post(other, body, key="shared")
        assert r.status_code == 201 and "Idempotent-Replayed" not in r
        assert Contact.objects.count() == 2 and IdempotencyKey.objects.count() == 2

    @pytest.mark.parametrize("key", ["", "x" * 256, "has space", "tab\there", "ключ", "\x7f"])
    def test_malformed_key_is_400_naming_the_header_and_writes_nothing(self, bot_client, key):
        src = SourceFactory()
        r = post(bot_client, {"external_id": "a", "source_id": src.pk}, key=key)
        assert r.status_code == 400
        assert "Idempotency-Key" in r.json()
        assert Contact.objects.count() == 0 and Lead.objects.count() == 0 and IdempotencyKey.objects.count() == 0

    def test_longest_key_is_accepted(self, bot_client):
        src = SourceFactory()
        key = "~" * 255
        assert post(bot_client, {"external_id": "a", "source_id": src.pk}, key=key).status_code == 201
        assert IdempotencyKey.objects.get().key == key

    def test_failed_request_stores_no_key_and_its_retry_is_processed(self, bot_client):
        src = SourceFactory()
        r = post(bot_client, {"external_id": "a", "source_id": 987654}, key="retry-me")
        assert r.status_code == 400 and "source_id" in r.json()
        assert IdempotencyKey.objects.count() == 0 and Lead.objects.count() == 0
        # The client fixes its body and retries with the same key: processed, not 422.
        r = post(bot_client, {"external_id": "a", "source_id": src.pk}, key="retry-me")
        assert r.status_code == 201 and "Idempotent-Replayed" not in r
        assert Contact.objects.count() == 1

    def test_replay_is_served_even_after_the_contact_changed(self, bot_client, staff_client):
        link = OperatorSourceFactory()
        body = {"external_id": "a", "source_id": link.source_id}
        first = post(bot_client, body, key="k1")
        staff_client.post(f"/api/v1/contacts/{first.json()['id']}/close/")
        again = post(bot_client, body, key="k1")
        assert again.json() == first.json() and again.json()["status"] == "open"
        assert Contact.objects.count() == 1


@pytest.mark.django_db
def test_purge_deletes_only_expired_keys(bot_client):
    src = SourceFactory()
    post(bot_client, {"external_id": "a", "source_id": src.pk}, key="old")
    post(bot_client, {"external_id": "b", "source_id": src.pk}, key="young")
    IdempotencyKey.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=25))
    IdempotencyKey.objects.filter(key="young").update(created_at=timezone.now() - timedelta(hours=23))
    out = io.StringIO()
    call_command("purge_idempotency_keys", stdout=out)
    assert "Purged 1" in out.getvalue()
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["young"]
    assert Contact.objects.count() == 2  # the contacts themselves stay


@pytest.mark.django_db
def test_purge_refuses_a_retention_under_24_hours():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="24 hours"):
        call_command("purge_idempotency_keys", "--older-than-hours", "23", stdout=io.StringIO())


@pytest.mark.django_db(transaction=True)
def test_sixteen_concurrent_identical_requests_make_one_contact():
    link = OperatorSourceFactory(operator=OperatorFactory(max_load=100))
    _, key = bot_create(name="racing_bot")
    body = {"external_id": "same@lead.io", "source_id": link.source_id}

    def send(_i):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        response = client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="one-key")
        return response.status_code, response.json(), response.get("Idempotent-Replayed")

    results, errors = run_concurrently(16, send)
    assert errors == []
    assert {status for status, _, _ in results} == {201}
    assert len({body["id"] for _, body, _ in results}) == 1
    assert sum(1 for *_, replayed in results if replayed is None) == 1  # exactly one did the work
    assert Contact.objects.count() == 1 and IdempotencyKey.objects.count() == 1
    assert Operator.objects.get(pk=link.operator_id).open_load == 1
