"""Production settings refuse to start unsafe and pass Django's deploy check."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _manage(*args, **env_overrides) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST", "DATABASE_URL"))}
    env.update({"DJANGO_SETTINGS_MODULE": "minicrm_project.settings.production", **env_overrides})
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


GOOD_KEY = "k3Y-" + "x7Qz9" * 12


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DJANGO_ALLOWED_HOSTS": "crm.example.com"}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": GOOD_KEY}, "DJANGO_ALLOWED_HOSTS"),
        ({"DJANGO_SECRET_KEY": "short", "DJANGO_ALLOWED_HOSTS": "crm.example.com"}, "DJANGO_SECRET_KEY"),
    ],
)
def test_production_refuses_to_start_without_secret_and_hosts(env, message):
    result = _manage("check", **env)
    assert result.returncode != 0
    assert message in result.stderr


def test_production_check_deploy_is_clean():
    result = _manage("check", "--deploy", DJANGO_SECRET_KEY=GOOD_KEY, DJANGO_ALLOWED_HOSTS="crm.example.com")
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNING" not in result.stderr + result.stdout


def test_pgbouncer_pooler_turns_off_server_side_cursors_and_prepared_statements():
    from minicrm_project.settings.base import postgres_tuned

    config = postgres_tuned({"ENGINE": "django.db.backends.postgresql", "OPTIONS": {}}, "pgbouncer")
    assert config["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert config["OPTIONS"]["prepare_threshold"] is None
    direct = postgres_tuned({"ENGINE": "django.db.backends.postgresql", "OPTIONS": {}}, "")
    assert "DISABLE_SERVER_SIDE_CURSORS" not in direct


def test_straight_to_postgresql_statements_are_prepared_unless_the_url_says_otherwise():
    from minicrm_project.settings.base import PREPARE_THRESHOLD, postgres_tuned

    def options(given: dict) -> dict:
        return postgres_tuned({"ENGINE": "django.db.backends.postgresql", "OPTIONS": given}, "")["OPTIONS"]

    assert options({}) == {"server_side_binding": True, "prepare_threshold": PREPARE_THRESHOLD}
    # The URL's query strings, as dj-database-url hands them over.
    assert options({"server_side_binding": "false", "prepare_threshold": "None"}) == {
        "server_side_binding": False,
        "prepare_threshold": None,
    }
    assert options({"prepare_threshold": "2"}) == {"server_side_binding": True, "prepare_threshold": 2}
    sqlite = postgres_tuned({"ENGINE": "django.db.backends.sqlite3", "OPTIONS": {}}, "")
    assert sqlite["OPTIONS"] == {}


def test_the_test_database_connection_prepares_statements(db):
    # The suite runs on PostgreSQL the way production does: server-side binding, prepared.
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    assert connection.settings_dict["OPTIONS"]["server_side_binding"] is True
    connection.ensure_connection()
    assert connection.connection.prepare_threshold is not None


@pytest.mark.parametrize(
    ("options", "pooler"),
    [({"server_side_binding": "true"}, "pgbouncer"), ({"prepare_threshold": "5"}, "pgbouncer"), ({}, "pgpool")],
)
def test_pooler_settings_refuse_what_transaction_pooling_breaks(options, pooler):
    from django.core.exceptions import ImproperlyConfigured

    from minicrm_project.settings.base import postgres_tuned

    with pytest.raises(ImproperlyConfigured, match="DATABASE_POOLER"):
        postgres_tuned({"ENGINE": "django.db.backends.postgresql", "OPTIONS": options}, pooler)
