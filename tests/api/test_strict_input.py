"""Health check, bounded bodies, intake logs, routing history, production settings."""

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import OperationalError

from crm.models import Contact, RoutingChange
from tests.factories import OperatorFactory, OperatorSourceFactory, SourceFactory

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_healthz_is_200_without_auth_and_shows_no_data(anon_client):
    r = anon_client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert anon_client.head("/healthz").status_code == 200


@pytest.mark.django_db
def test_healthz_is_503_when_the_database_does_not_answer(anon_client, monkeypatch):
    from crm import views

    def broken():
        raise OperationalError("connection refused")

    monkeypatch.setattr(views.connection, "cursor", broken)
    r = anon_client.get("/healthz")
    assert r.status_code == 503 and r.json() == {"status": "unavailable"}


@pytest.mark.django_db
def test_oversized_body_is_413_and_writes_nothing(bot_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    src = SourceFactory()
    r = bot_client.post(
        "/api/v1/contacts/", {"external_id": "a", "source_id": src.pk, "pad": "x" * 2000}, format="json"
    )
    assert r.status_code == 413
    assert Contact.objects.count() == 0


@pytest.mark.django_db
def test_bad_page_size_is_400(staff_client):
    for value in ("abc", "0", "-1", "1.5", "9" * 5000):
        r = staff_client.get(f"/api/v1/contacts/?page_size={value}")
        if value == "9" * 5000:
            assert r.status_code == 200  # capped, not a crash
        else:
            assert r.status_code == 400 and "page_size" in r.json(), value


@pytest.mark.django_db
def test_every_intake_decision_is_logged(bot_client, caplog):
    link = OperatorSourceFactory()
    waiting = SourceFactory()
    with caplog.at_level(logging.INFO, logger="crm.intake"):
        a = bot_client.post("/api/v1/contacts/", {"external_id": "a", "source_id": link.source_id}, format="json")
        b = bot_client.post(
            "/api/v1/contacts/", {"external_id": "b", "source_id": waiting.pk}, format="json", HTTP_IDEMPOTENCY_KEY="k"
        )
        bot_client.post(
            "/api/v1/contacts/", {"external_id": "b", "source_id": waiting.pk}, format="json", HTTP_IDEMPOTENCY_KEY="k"
        )
    lines = [r.getMessage() for r in caplog.records if r.name == "crm.intake"]
    assert len(lines) == 3
    assert f"contact={a.json()['id']} source={link.source_id} operator={link.operator_id}" in lines[0]
    assert "idempotency=none" in lines[0] and "duration_ms=" in lines[0]
    assert f"contact={b.json()['id']}" in lines[1] and "reason=no_operators" in lines[1]
    assert "idempotency=new" in lines[1] and "idempotency=replayed" in lines[2]


# --- routing history ------------------------------------------------------------------------


@pytest.mark.django_db
def test_api_changes_to_routing_are_recorded_with_who_and_what(staff_client, staff_user):
    op = staff_client.post("/api/v1/operators/", {"name": "ivan", "max_load": 5}, format="json").json()
    src = staff_client.post("/api/v1/sources/", {"name": "tg"}, format="json").json()
    link = staff_client.post(
        "/api/v1/operator-sources/", {"operator_id": op["id"], "source_id": src["id"], "weight": 10}, format="json"
    ).json()
    staff_client.patch(f"/api/v1/operator-sources/{link['id']}", {"weight": 30}, format="json")
    staff_client.patch(f"/api/v1/operators/{op['id']}", {"max_load": 8}, format="json")
    staff_client.patch(f"/api/v1/operators/{op['id']}", {"max_load": 8}, format="json")  # no change: no row
    staff_client.delete(f"/api/v1/operator-sources/{link['id']}")
    history = list(RoutingChange.objects.order_by("id").values_list("actor_id", "action", "object_type", "changes"))
    assert history == [
        (
            staff_user.pk,
            "create",
            "operator",
            {"name": [None, "ivan"], "is_active": [None, True], "max_load": [None, 5]},
        ),
        (
            staff_user.pk,
            "create",
            "source",
            {"name": [None, "tg"], "strategy": [None, "random"], "affinity": [None, False]},
        ),
        (
            staff_user.pk,
            "create",
            "operatorsource",
            {"operator_id": [None, op["id"]], "source_id": [None, src["id"]], "weight": [None, 10]},
        ),
        (staff_user.pk, "update", "operatorsource", {"weight": [10, 30]}),
        (staff_user.pk, "update", "operator", {"max_load": [5, 8]}),
        (
            staff_user.pk,
            "delete",
            "operatorsource",
            {"operator_id": [op["id"], None], "source_id": [src["id"], None], "weight": [30, None]},
        ),
    ]
    assert RoutingChange.objects.filter(actor_name=staff_user.username).count() == 6


@pytest.mark.django_db
def test_refused_change_records_nothing(staff_client):
    op = OperatorFactory(name="ivan")
    r = staff_client.post("/api/v1/operators/", {"name": "IVAN"}, format="json")
    assert r.status_code == 400
    r = staff_client.patch(f"/api/v1/operators/{op.pk}", {"max_load": -1}, format="json")
    assert r.status_code == 400
    assert RoutingChange.objects.count() == 0


@pytest.mark.django_db
def test_admin_weight_edits_are_recorded(admin_client, admin_user):
    link = OperatorSourceFactory(weight=10)
    op = link.operator
    data = {
        "name": op.name,
        "is_active": "on",
        "max_load": op.max_load,
        "links-TOTAL_FORMS": "1",
        "links-INITIAL_FORMS": "1",
        "links-MIN_NUM_FORMS": "0",
        "links-MAX_NUM_FORMS": "1000",
        "links-0-id": link.pk,
        "links-0-operator": op.pk,
        "links-0-source": link.source_id,
        "links-0-weight": "25",
    }
    r = admin_client.post(f"/admin/crm/operator/{op.pk}/change/", data)
    assert r.status_code == 302, r.content.decode()[:2000]
    link.refresh_from_db()
    assert link.weight == 25
    change = RoutingChange.objects.get(object_type="operatorsource")
    assert (change.actor_id, change.changes) == (admin_user.pk, {"weight": [10, 25]})
    assert admin_client.get("/admin/crm/routingchange/").status_code == 200


# --- production settings --------------------------------------------------------------------


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


# --- strict input (found by schemathesis) ---------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    ["status=", "unassigned=", "source=", "source=1&source=2", "lead=4.5e%2B16", "operator=0"],
)
def test_empty_repeated_or_non_integer_filters_are_400(staff_client, query):
    r = staff_client.get(f"/api/v1/contacts/?{query}")
    assert r.status_code == 400
    assert query.split("=")[0] in r.json()


@pytest.mark.django_db
def test_operator_source_filter_with_unknown_id_is_an_empty_page(staff_client):
    OperatorSourceFactory()
    r = staff_client.get("/api/v1/operator-sources/?operator=987654")
    assert r.status_code == 200 and r.json()["results"] == []


@pytest.mark.django_db
def test_blank_external_id_filter_matches_no_lead(staff_client):
    from tests.factories import LeadFactory

    LeadFactory()
    r = staff_client.get("/api/v1/leads/?external_id=%20%20")
    assert r.status_code == 200 and r.json()["results"] == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/sources/", {"name": 12}, "name"),
        ("/api/v1/operators/", {"name": "x", "max_load": "7"}, "max_load"),
        ("/api/v1/operators/", {"name": "x", "max_load": 7.0}, "max_load"),
        ("/api/v1/operators/", {"name": "x", "is_active": "yes"}, "is_active"),
        ("/api/v1/operators/", {"name": "   "}, "name"),
        ("/api/v1/contacts/", {"external_id": 5, "source_id": 1}, "external_id"),
        ("/api/v1/contacts/", {"external_id": "a", "source_id": "1"}, "source_id"),
    ],
)
def test_request_bodies_take_json_types_strictly(staff_client, path, body, field):
    from crm.models import Operator, Source

    SourceFactory()
    before = (Source.objects.count(), Operator.objects.count(), Contact.objects.count())
    r = staff_client.post(path, body, format="json")
    assert r.status_code == 400 and field in r.json(), r.json()
    assert (Source.objects.count(), Operator.objects.count(), Contact.objects.count()) == before


@pytest.mark.django_db
def test_unknown_api_path_is_json_404(anon_client):
    r = anon_client.get("/api/v1/contacts/-5/")
    assert r.status_code == 404 and r.json() == {"detail": "Not found."}


@pytest.mark.django_db
def test_contact_schema_allows_blank_unassigned_reason(anon_client):
    schema = anon_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    reason = schema["components"]["schemas"]["Contact"]["properties"]["unassigned_reason"]
    assert any(branch.get("$ref", "").endswith("/BlankEnum") for branch in reason["oneOf"])
    errors = schema["paths"]["/api/v1/contacts/"]["post"]["responses"]
    assert {"201", "400", "401", "403", "409", "413", "415", "422", "429"} <= errors.keys()


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["since=", "source=", "source=1&source=2"])
def test_distribution_parameters_empty_or_repeated_are_400(staff_client, query):
    r = staff_client.get(f"/api/v1/stats/distribution/?{query}")
    assert r.status_code == 400 and query.split("=")[0] in r.json()
