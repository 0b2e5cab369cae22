"""Throttles for real: the test settings switch them off, these tests switch them on with
small rates, against the real counters (the database; Redis when it is reachable).
Concurrency: tests/test_http_throttle_concurrency.py."""

import socket

import pytest

from crm.models import Contact
from crm.services.accounts import bot_create
from tests.factories import SourceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def rates(settings):
    # Counters live in the test database (rolled back after each test) or under a Redis key
    # prefix of the test's own: no cache.clear(), which on Redis would empty the shared server.
    def apply(**scopes):
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": scopes}

    return apply


def post(client, src, i):
    return client.post("/api/v1/contacts/", {"external_id": f"lead-{i}", "source_id": src.pk}, format="json")


def test_intake_over_the_rate_is_429_with_retry_after_and_writes_nothing(bot_client, rates):
    rates(intake="3/min", api="100/min")
    src = SourceFactory()
    assert [post(bot_client, src, i).status_code for i in range(3)] == [201, 201, 201]
    r = post(bot_client, src, 3)
    assert r.status_code == 429
    assert 0 < int(r["Retry-After"]) <= 60
    assert Contact.objects.count() == 3


def test_throttle_is_per_client(bot_client, rates):
    from rest_framework.test import APIClient

    rates(intake="2/min", api="100/min")
    src = SourceFactory()
    for i in range(2):
        post(bot_client, src, i)
    assert post(bot_client, src, 2).status_code == 429
    _, key = bot_create(name="other_bot")
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert post(other, src, 3).status_code == 201


def test_rest_of_the_api_has_its_own_rate(staff_client, rates):
    rates(intake="100/min", api="2/min")
    assert staff_client.get("/api/v1/operators/").status_code == 200
    assert staff_client.get("/api/v1/sources/").status_code == 200
    r = staff_client.get("/api/v1/contacts/")
    assert r.status_code == 429 and "Retry-After" in r
    # Intake is counted apart: staff may still register a contact.
    assert post(staff_client, SourceFactory(), 0).status_code == 201


def test_default_settings_throttle_both_scopes():
    from minicrm_project.settings import base

    assert base.REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] == ["crm.api.throttling.ScopedThrottle"]
    assert set(base.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]) == {"intake", "api"}
    assert all(base.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"].values())


def test_cache_is_redis_when_redis_url_is_set(monkeypatch):
    from minicrm_project.settings import base

    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    assert base.cache_from_env()["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    monkeypatch.delenv("REDIS_URL")
    assert base.cache_from_env()["BACKEND"] == "django.core.cache.backends.db.DatabaseCache"


def test_bad_rate_in_the_environment_is_refused_at_start(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from minicrm_project.settings import base

    monkeypatch.setenv("THROTTLE_INTAKE_RATE", "lots")
    with pytest.raises(ImproperlyConfigured, match="THROTTLE_INTAKE_RATE"):
        base.env_rate("THROTTLE_INTAKE_RATE", "10/min")
    monkeypatch.setenv("THROTTLE_INTAKE_RATE", "off")
    assert base.env_rate("THROTTLE_INTAKE_RATE", "10/min") is None


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _redis_up(), reason="no Redis at 127.0.0.1:6379")
def test_throttle_with_redis_cache(bot_client, rates, settings):
    import uuid

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/0",
            "KEY_PREFIX": f"minicrm-test-{uuid.uuid4().hex}",  # never collides with another run
        }
    }
    rates(intake="2/min", api="100/min")
    src = SourceFactory()
    assert [post(bot_client, src, i).status_code for i in range(3)] == [201, 201, 429]
    assert Contact.objects.count() == 2
