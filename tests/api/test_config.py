"""Operators, sources and weights over HTTP, for anonymous, bot, plain and staff callers."""

import pytest

from crm.models import Operator, OperatorSource, Source
from crm.services.intake import contact_register
from tests.factories import OperatorFactory, OperatorSourceFactory, SourceFactory

pytestmark = pytest.mark.django_db


# --- who may do what ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/api/v1/operators/", "/api/v1/sources/", "/api/v1/operator-sources/", "/api/v1/contacts/", "/api/v1/leads/"],
)
def test_anonymous_is_401(anon_client, path):
    assert anon_client.get(path).status_code == 401
    response = anon_client.post(path, {}, format="json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Token")


@pytest.mark.parametrize(
    "path",
    ["/api/v1/operators/", "/api/v1/sources/", "/api/v1/operator-sources/", "/api/v1/leads/"],
)
def test_bot_cannot_read_configuration_or_lists(bot_client, path):
    assert bot_client.get(path).status_code == 403


def test_bot_cannot_write_configuration(bot_client):
    op = OperatorFactory(name="ivan")
    assert bot_client.post("/api/v1/operators/", {"name": "x"}, format="json").status_code == 403
    assert bot_client.patch(f"/api/v1/operators/{op.pk}", {"max_load": 99}, format="json").status_code == 403
    assert bot_client.post("/api/v1/sources/", {"name": "x"}, format="json").status_code == 403
    src = SourceFactory()
    r = bot_client.post(
        "/api/v1/operator-sources/", {"operator_id": op.pk, "source_id": src.pk, "weight": 5}, format="json"
    )
    assert r.status_code == 403
    assert Operator.objects.get(pk=op.pk).max_load == 10
    assert Operator.objects.count() == 1 and Source.objects.count() == 1 and OperatorSource.objects.count() == 0


def test_plain_user_is_403_everywhere(plain_user_client):
    assert plain_user_client.get("/api/v1/operators/").status_code == 403
    src = SourceFactory()
    r = plain_user_client.post("/api/v1/contacts/", {"external_id": "a", "source_id": src.pk}, format="json")
    assert r.status_code == 403


def test_staff_without_model_permission_is_403(staff_user, staff_client):
    staff_user.user_permissions.clear()
    assert staff_client.get("/api/v1/operators/").status_code == 403


def test_revoked_token_is_refused(staff_user, staff_client):
    from knox.models import AuthToken

    assert staff_client.get("/api/v1/operators/").status_code == 200
    AuthToken.objects.filter(user=staff_user).delete()
    assert staff_client.get("/api/v1/operators/").status_code == 401


def test_non_ascii_token_is_401_not_500(anon_client):
    r = anon_client.get("/api/v1/operators/", HTTP_AUTHORIZATION="Token caf\u00e9")
    assert r.status_code == 401


def test_expired_token_is_refused_and_deleted(staff_user):
    from datetime import timedelta

    from django.utils import timezone
    from knox.models import AuthToken
    from rest_framework.test import APIClient

    token, key = AuthToken.objects.create(user=staff_user, expiry=timedelta(seconds=60))
    AuthToken.objects.filter(pk=token.pk).update(expiry=timezone.now() - timedelta(seconds=1))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/operators/").status_code == 401
    assert not AuthToken.objects.filter(pk=token.pk).exists()


def test_tokens_are_stored_hashed(staff_client):
    from knox.models import AuthToken

    key = staff_client._credentials["HTTP_AUTHORIZATION"].split()[1]
    stored = AuthToken.objects.get()
    assert key not in (stored.digest, stored.token_key)
    assert stored.token_key == key[: len(stored.token_key)] and len(stored.token_key) < len(key)


# --- operators ----------------------------------------------------------------------------


def test_create_operator_seed_payload(staff_client):
    r = staff_client.post("/api/v1/operators/", {"name": "ivan", "is_active": True, "max_load": 10}, format="json")
    assert r.status_code == 201, r.json()
    body = r.json()
    assert body["name"] == "ivan" and body["max_load"] == 10 and body["current_load"] == 0
    assert Operator.objects.filter(pk=body["id"], name="ivan", max_load=10, is_active=True).exists()


def test_operator_paths_without_trailing_slash(staff_client):
    r = staff_client.post("/api/v1/operators", {"name": "ivan"}, format="json")
    assert r.status_code == 201
    op_id = r.json()["id"]
    assert staff_client.get(f"/api/v1/operators/{op_id}").status_code == 200
    assert staff_client.get(f"/api/v1/operators/{op_id}/").status_code == 200
    assert (
        staff_client.put(
            f"/api/v1/operators/{op_id}", {"name": "ivan", "is_active": False, "max_load": 3}, format="json"
        ).status_code
        == 200
    )
    op = Operator.objects.get(pk=op_id)
    assert (op.is_active, op.max_load) == (False, 3)


def test_operator_list_is_paginated_by_cursor(staff_client):
    for i in range(7):
        OperatorFactory(name=f"op{i}")
    r = staff_client.get("/api/v1/operators/?page_size=3")
    body = r.json()
    assert [o["name"] for o in body["results"]] == ["op0", "op1", "op2"]
    assert "count" not in body and body["next"]
    second = staff_client.get(body["next"]).json()
    assert [o["name"] for o in second["results"]] == ["op3", "op4", "op5"]


def test_page_size_is_bounded(staff_client):
    for _i in range(3):
        OperatorFactory()
    r = staff_client.get("/api/v1/operators/?page_size=100000")
    assert r.status_code == 200, r.json()
    assert len(r.json()["results"]) == 3


def test_patch_keeps_unsent_fields(staff_client):
    op = OperatorFactory(is_active=False, max_load=7)
    r = staff_client.patch(f"/api/v1/operators/{op.pk}/", {"name": "renamed"}, format="json")
    assert r.status_code == 200
    op.refresh_from_db()
    assert (op.name, op.is_active, op.max_load) == ("renamed", False, 7)


def test_current_load_shown(staff_client):
    link = OperatorSourceFactory()
    contact_register(external_id="x", source_id=link.source_id)
    assert staff_client.get(f"/api/v1/operators/{link.operator_id}").json()["current_load"] == 1


def test_max_load_below_current_load_is_400(staff_client):
    link = OperatorSourceFactory(operator=OperatorFactory(max_load=5))
    for i in range(3):
        contact_register(external_id=f"x{i}", source_id=link.source_id)
    r = staff_client.patch(f"/api/v1/operators/{link.operator_id}", {"max_load": 2}, format="json")
    assert r.status_code == 400
    assert "max_load" in r.json() and "3 open contacts" in r.json()["max_load"][0]
    assert Operator.objects.get(pk=link.operator_id).max_load == 5


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "a", "max_load": -1}, "max_load"),
        ({"name": "a", "max_load": "many"}, "max_load"),
        ({"name": "a", "max_load": 10**12}, "max_load"),
        ({"name": "a", "is_active": "perhaps"}, "is_active"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": None}, "name"),
        ({"name": "a\x00b"}, "name"),
        ({}, "name"),
    ],
)
def test_bad_operator_input_is_400_naming_field(staff_client, payload, field):
    r = staff_client.post("/api/v1/operators/", payload, format="json")
    assert r.status_code == 400
    assert field in r.json()
    assert Operator.objects.count() == 0


def test_duplicate_operator_name_case_insensitive_is_400(staff_client):
    OperatorFactory(name="Ivan")
    r = staff_client.post("/api/v1/operators/", {"name": " ivan "}, format="json")
    assert r.status_code == 400 and "already exists" in r.json()["name"][0]
    assert Operator.objects.count() == 1


def test_unknown_and_malformed_ids_are_404(staff_client):
    assert staff_client.get("/api/v1/operators/999").status_code == 404
    assert staff_client.get("/api/v1/operators/abc").status_code == 404
    assert staff_client.get("/api/v1/operators/99999999999999999999999").status_code == 404
    assert staff_client.patch("/api/v1/operators/999", {"name": "x"}, format="json").status_code == 404


def test_operator_delete_is_not_offered(staff_client):
    op = OperatorFactory()
    assert staff_client.delete(f"/api/v1/operators/{op.pk}").status_code == 405
    assert Operator.objects.filter(pk=op.pk).exists()


def test_malformed_json_and_list_body_are_400(staff_client):
    r = staff_client.generic("POST", "/api/v1/operators/", "{nope", content_type="application/json")
    assert r.status_code == 400 and "JSON parse error" in r.json()["detail"]
    r = staff_client.post("/api/v1/operators/", [{"name": "a"}], format="json")
    assert r.status_code == 400 and "non_field_errors" in r.json()
    assert Operator.objects.count() == 0


# --- sources ------------------------------------------------------------------------------


def test_create_and_rename_source(staff_client):
    r = staff_client.post("/api/v1/sources/", {"name": "telegram_bot_A"}, format="json")
    assert r.status_code == 201
    sid = r.json()["id"]
    r = staff_client.patch(f"/api/v1/sources/{sid}", {"name": "telegram_bot_B"}, format="json")
    assert r.status_code == 200
    assert Source.objects.get(pk=sid).name == "telegram_bot_B"
    assert staff_client.get("/api/v1/sources").json()["results"][0]["name"] == "telegram_bot_B"


def test_duplicate_source_name_is_400(staff_client):
    SourceFactory(name="telegram_bot_A")
    r = staff_client.post("/api/v1/sources/", {"name": "TELEGRAM_BOT_A"}, format="json")
    assert r.status_code == 400 and "name" in r.json()


# --- weights ------------------------------------------------------------------------------


def test_link_create_patch_delete(staff_client):
    op, src = OperatorFactory(), SourceFactory()
    r = staff_client.post(
        "/api/v1/operator-sources/", {"operator_id": op.pk, "source_id": src.pk, "weight": 20}, format="json"
    )
    assert r.status_code == 201
    link_id = r.json()["id"]
    assert r.json()["operator_id"] == op.pk and r.json()["weight"] == 20
    assert staff_client.patch(f"/api/v1/operator-sources/{link_id}", {"weight": 0}, format="json").status_code == 200
    assert OperatorSource.objects.get(pk=link_id).weight == 0
    assert staff_client.delete(f"/api/v1/operator-sources/{link_id}").status_code == 204
    assert not OperatorSource.objects.exists()


def test_duplicate_pair_is_400_that_says_so(staff_client):
    link = OperatorSourceFactory()
    r = staff_client.post(
        "/api/v1/operator-sources/",
        {"operator_id": link.operator_id, "source_id": link.source_id, "weight": 3},
        format="json",
    )
    assert r.status_code == 400
    assert "already linked" in r.json()["non_field_errors"][0]
    assert OperatorSource.objects.count() == 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"operator_id": 999, "weight": 1}, "operator_id"),
        ({"source_id": 999, "weight": 1}, "source_id"),
        ({"weight": -1}, "weight"),
        ({"weight": 1001}, "weight"),
        ({"weight": "heavy"}, "weight"),
        ({"operator_id": "one", "weight": 1}, "operator_id"),
        ({"operator_id": 10**30, "weight": 1}, "operator_id"),
    ],
)
def test_bad_link_input_is_400(staff_client, payload, field):
    op, src = OperatorFactory(), SourceFactory()
    body = {"operator_id": op.pk, "source_id": src.pk, **payload}
    r = staff_client.post("/api/v1/operator-sources/", body, format="json")
    assert r.status_code == 400 and field in r.json(), r.json()
    assert OperatorSource.objects.count() == 0


def test_link_pair_cannot_change(staff_client):
    link = OperatorSourceFactory()
    other = OperatorFactory()
    r = staff_client.patch(f"/api/v1/operator-sources/{link.pk}", {"operator_id": other.pk}, format="json")
    assert r.status_code == 400 and "operator_id" in r.json()
    link.refresh_from_db()
    assert link.operator_id != other.pk


def test_link_put_is_not_offered(staff_client):
    link = OperatorSourceFactory()
    r = staff_client.put(f"/api/v1/operator-sources/{link.pk}", {"weight": 1}, format="json")
    assert r.status_code == 405


def test_deadlock_from_the_database_is_a_409_not_a_500():
    from django.db import OperationalError

    from crm.api.exceptions import exception_handler

    class DeadlockError(Exception):
        sqlstate = "40P01"

    error = OperationalError("deadlock detected")
    error.__cause__ = DeadlockError()
    response = exception_handler(error, {})
    assert response.status_code == 409 and response.data["code"] == "retry"
