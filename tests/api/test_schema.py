"""The OpenAPI schema and its documentation pages."""

import io
import re

import pytest
from django.core.management import call_command

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


@pytest.mark.django_db
def test_contact_schema_allows_blank_unassigned_reason(anon_client):
    schema = anon_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    reason = schema["components"]["schemas"]["Contact"]["properties"]["unassigned_reason"]
    assert any(branch.get("$ref", "").endswith("/BlankEnum") for branch in reason["oneOf"])
    errors = schema["paths"]["/api/v1/contacts/"]["post"]["responses"]
    assert {"201", "400", "401", "403", "409", "413", "415", "422", "429"} <= errors.keys()
