import random
import threading
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.db import connection, connections
from django.utils import timezone, translation

from tests.factories import UserFactory


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The test database plus the cache table (throttle counters), which migrations do not
    create. Idempotent, so --reuse-db is fine."""
    with django_db_blocker.unblock():
        call_command("createcachetable", verbosity=0)


@pytest.fixture(autouse=True)
def default_language(settings):
    """Every test starts in the default language: LocaleMiddleware leaves the language of a
    request (Accept-Language: ru, say) active in the thread after the response."""
    with translation.override(settings.LANGUAGE_CODE):
        yield


@pytest.fixture
def rng():
    return random.Random(20261126)


@pytest.fixture
def staff_user(db):
    """A staff member with the model permissions of the crm app (not a superuser)."""
    user = UserFactory(is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="crm"))
    return user


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


# PostgreSQL's default max_connections is 100, shared with anything else running (another
# suite, a benchmark): 20 threads leave room. Each thread then takes several jobs.
PG_MAX_THREADS = 20


def run_concurrently(n: int, target) -> tuple[list, list]:
    """Run target(i) for i in range(n) from threads released together by a barrier, each
    thread with its own database connection (closed at the end). One thread per job, up to
    PG_MAX_THREADS on PostgreSQL, where each thread then takes every k-th job.
    Returns (results, errors)."""
    n_threads = min(n, PG_MAX_THREADS) if is_postgres() else n
    barrier = threading.Barrier(n_threads)
    results: list = [None] * n
    errors: list = []
    lock = threading.Lock()

    def worker(t: int) -> None:
        try:
            barrier.wait(timeout=30)
            for i in range(t, n, n_threads):
                try:
                    results[i] = target(i)
                except Exception as exc:  # collected and asserted by the test
                    with lock:
                        errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a worker thread hung"
    return results, errors


class Clock:
    """timezone.now() under the test's control: `advance(minutes=31)` moves time forward."""

    def __init__(self, monkeypatch):
        self.now = timezone.now()
        monkeypatch.setattr(timezone, "now", lambda: self.now)

    def advance(self, **kwargs) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)
