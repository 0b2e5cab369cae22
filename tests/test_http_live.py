"""The HTTP layer as gunicorn serves it: chunked request bodies, and `make run`'s settings
(DEBUG off, static files served, JSON 404s under /api/, no technical pages)."""

import http.client
import json

import pytest

from crm.models import Contact, Lead
from crm.services.accounts import bot_create
from tests.factories import SourceFactory
from tests.live import gunicorn_server

pytestmark = pytest.mark.django_db(transaction=True)


def request(server, method: str, path: str, *, body=None, headers: dict | None = None) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def chunks(data: bytes, size: int):
    for i in range(0, len(data), size):
        yield data[i : i + size]


def test_chunked_intake_is_read_whole_and_an_oversized_one_is_413(tmp_path, settings):
    source = SourceFactory()
    _, key = bot_create(name="chunked_bot")
    headers = {"Authorization": f"Token {key}", "Content-Type": "application/json"}
    body = json.dumps({"external_id": "chunked-lead", "source_id": source.pk}).encode()
    big = json.dumps({"external_id": "big", "source_id": source.pk, "pad": "x" * 70_000}).encode()
    assert len(big) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    with gunicorn_server(tmp_path=tmp_path, workers=1) as server:
        # http.client sends an iterable body without a length as Transfer-Encoding: chunked.
        status, _, content = request(server, "POST", "/api/v1/contacts/", body=chunks(body, 7), headers=headers)
        assert status == 201, content
        assert json.loads(content)["external_id"] == "chunked-lead"
        status, _, content = request(server, "POST", "/api/v1/contacts/", body=chunks(big, 4096), headers=headers)
        assert status == 413 and json.loads(content)["code"] == "payload_too_large"
        # An empty chunked body is an empty body, answered as one (not misread as something else).
        status, _, content = request(server, "POST", "/api/v1/contacts/", body=iter([]), headers=headers)
        assert status == 400 and "external_id" in json.loads(content)
    assert list(Lead.objects.values_list("external_id", flat=True)) == ["chunked-lead"]
    assert Contact.objects.count() == 1


def test_make_run_settings_serve_the_product_not_debug_pages(tmp_path):
    env = {"DJANGO_SETTINGS_MODULE": "minicrm_project.settings.local", "DJANGO_DEBUG": ""}
    with gunicorn_server(tmp_path=tmp_path, workers=1, extra_env=env) as server:
        for path in ("/api/nowhere", "/api/v1/nowhere/", "/api", "/api/v1/contacts/abc/def"):
            status, headers, content = request(server, "GET", path)
            assert status == 404 and headers["Content-Type"] == "application/json", path
            assert json.loads(content) == {"detail": "Not found."}
        status, headers, content = request(server, "GET", "/nowhere")
        assert status == 404 and headers["Content-Type"].startswith("text/html")
        assert b"URLconf" not in content and b"api/v1/" not in content and b"Traceback" not in content
        # Static files without collectstatic: the admin's CSS and Swagger UI's bundle.
        status, _, _ = request(server, "GET", "/static/admin/css/base.css")
        assert status == 200
        status, _, _ = request(server, "GET", "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css")
        assert status == 200
        status, _, content = request(server, "GET", "/docs")
        assert status == 200 and b"swagger-ui" in content
        # A request Django refuses as suspicious (an unknown Host) gets no debug page either.
        status, headers, content = request(server, "GET", "/api/v1/contacts/", headers={"Host": "evil.example"})
        assert status == 400 and headers["Content-Type"] == "application/json"


def test_debug_is_an_explicit_opt_in(monkeypatch):
    import importlib

    from minicrm_project.settings import local

    monkeypatch.delenv("DJANGO_DEBUG", raising=False)
    assert importlib.reload(local).DEBUG is False
    monkeypatch.setenv("DJANGO_DEBUG", "true")
    assert importlib.reload(local).DEBUG is True
    monkeypatch.delenv("DJANGO_DEBUG")
    importlib.reload(local)
