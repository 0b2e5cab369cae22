import io
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from knox.models import AuthToken

from crm.models import Operator, OperatorSource, Source
from crm.services.demo import demo_seed

pytestmark = pytest.mark.django_db


def test_schema_and_docs_are_public(anon_client):
    r = anon_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert r.status_code == 200
    assert b"/api/v1/contacts/" in r.content
    docs = anon_client.get("/docs")
    assert docs.status_code == 200
    html = docs.content.decode()
    # Offline assets: served by us, never from a CDN.
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert not re.search(r'src="(https?:)?//', html), "an asset is loaded from another host"


def test_swagger_assets_are_served(anon_client):
    r = anon_client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert r.status_code == 200


def test_schema_validates():
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=io.StringIO())


def test_create_bot_prints_key_last_and_key_works(client):
    out, err = io.StringIO(), io.StringIO()
    call_command("create_bot", "telegram_bot_A", stdout=out, stderr=err)
    key = out.getvalue().strip().splitlines()[-1]
    assert len(key) >= 32 and " " not in key
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    src = Source.objects.create(name="s")
    assert api.post("/api/v1/contacts/", {"external_id": "a", "source_id": src.pk}, format="json").status_code == 201
    assert api.get("/api/v1/operators/").status_code == 403


def test_create_bot_twice_is_a_command_error():
    call_command("create_bot", "dup", stdout=io.StringIO(), stderr=io.StringIO())
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_bot", "dup", stdout=io.StringIO(), stderr=io.StringIO())


def test_create_api_token_for_staff_user(staff_user):
    out = io.StringIO()
    call_command("create_api_token", staff_user.username, stdout=out, stderr=io.StringIO())
    key = out.getvalue().strip().splitlines()[-1]
    assert AuthToken.objects.filter(user=staff_user, token_key=key[:15]).exists()
    with pytest.raises(CommandError):
        call_command("create_api_token", "nobody", stdout=io.StringIO(), stderr=io.StringIO())


def test_demo_seed_is_idempotent():
    first = demo_seed()
    assert first["operators"] > 0
    counts = (Operator.objects.count(), Source.objects.count(), OperatorSource.objects.count())
    assert demo_seed() == {"operators": 0, "sources": 0, "weights": 0}
    assert counts == (Operator.objects.count(), Source.objects.count(), OperatorSource.objects.count())


def test_bootstrap_local_runs_once():
    out = io.StringIO()
    call_command("bootstrap_local", stdout=out)
    assert "admin login" in out.getvalue()
    out = io.StringIO()
    call_command("bootstrap_local", stdout=out)
    assert "nothing to set up" in out.getvalue()
