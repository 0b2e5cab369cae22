"""The API reference: every operation grouped by resource, with a summary and a description;
the intake and the errors carry examples; the auth scheme and the Idempotency-Key are there."""

import pytest
import yaml
from django.conf import settings

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(anon_client):
    r = anon_client.get("/api/schema/")
    assert r.status_code == 200
    return yaml.safe_load(r.content)


def _operations(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            yield method, path, operation


def test_every_operation_has_a_resource_tag_a_summary_and_a_description(schema):
    tags = {name for name, _ in settings.API_TAGS}
    assert [t["name"] for t in schema["tags"]] == [name for name, _ in settings.API_TAGS]
    for method, path, operation in _operations(schema):
        assert len(operation["tags"]) == 1 and operation["tags"][0] in tags, (method, path)
        assert operation.get("summary"), (method, path)
        assert operation.get("description"), (method, path)
    summaries = [operation["summary"] for _, _, operation in _operations(schema)]
    assert len(summaries) == len(set(summaries)), "two operations share a summary"


def test_intake_has_request_and_response_examples_and_the_idempotency_header(schema):
    intake = schema["paths"]["/api/v1/contacts/"]["post"]
    assert intake["requestBody"]["content"]["application/json"]["examples"]
    assert intake["responses"]["201"]["content"]["application/json"]["examples"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in intake["parameters"])


def test_errors_have_examples(schema):
    for method, path, operation in _operations(schema):
        for code in ("400", "401", "403", "429"):
            assert operation["responses"][code]["content"]["application/json"]["examples"], (method, path, code)


def test_token_scheme_is_documented(schema):
    token = schema["components"]["securitySchemes"]["tokenAuth"]
    assert token["type"] == "apiKey" and token["in"] == "header" and token["name"] == "Authorization"
    assert "Token <key>" in token["description"]


def test_every_parameter_is_described(schema):
    for method, path, operation in _operations(schema):
        for parameter in operation.get("parameters", []):
            assert parameter.get("description"), (method, path, parameter["name"])
