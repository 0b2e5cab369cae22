"""The HTTP layer as gunicorn serves it: chunked request bodies, and `make run`'s settings
(DEBUG off, static files served, JSON 404s under /api/, no technical pages)."""

import http.client
import json
import socket

import pytest

from crm.models import Contact, Lead
from crm.services.accounts import bot_create
from tests.factories import SourceFactory
from tests.live.server import gunicorn_server

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


def slow_client(server, head: bytes) -> socket.socket:
    """A connection that has sent `head` (a part of a request) and then waits."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sock.sendall(head)
    return sock


def test_slow_clients_do_not_hold_the_server(tmp_path):
    # 2 workers x 4 threads; 12 clients stall mid-request, more than there are threads. The
    # server's worker timeout is far beyond the test's patience: a server that gave each
    # slow client a thread or a process would not answer /healthz until it killed workers.
    with gunicorn_server(tmp_path=tmp_path, workers=2, timeout=300) as server:
        stalled = [slow_client(server, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ") for _ in range(8)]
        stalled += [
            slow_client(
                server,
                b"POST /api/v1/contacts/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b'Content-Length: 60\r\n\r\n{"external_id":',
            )
            for _ in range(4)
        ]
        try:
            for _ in range(5):
                status, _, content = request(server, "GET", "/healthz")
                assert status == 200 and json.loads(content) == {"status": "ok"}
            # A slow client that finishes its request is served like any other.
            stalled[0].sendall(b"1\r\n\r\n")
            assert stalled[0].recv(65536).startswith(b"HTTP/1.1 200 OK")
        finally:
            for sock in stalled:
                sock.close()


def test_a_client_that_never_finishes_its_request_is_disconnected(tmp_path):
    env = {"GUNICORN_REQUEST_READ_TIMEOUT": "1"}
    with gunicorn_server(tmp_path=tmp_path, workers=1, extra_env=env) as server:
        sock = slow_client(server, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        try:
            assert sock.recv(65536) == b""  # closed by the server (the socket's own timeout is 30 s)
        finally:
            sock.close()
        status, _, _ = request(server, "GET", "/healthz")
        assert status == 200


def test_kept_alive_connection_is_served_request_after_request(tmp_path):
    with gunicorn_server(tmp_path=tmp_path, workers=1) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        try:
            for _ in range(3):  # one connection, kept alive between requests
                conn.request("GET", "/healthz")
                response = conn.getresponse()
                assert response.status == 200 and response.read() == b'{"status": "ok"}'
        finally:
            conn.close()


def test_a_request_cut_by_the_worker_timeout_gets_a_json_503_and_writes_nothing(tmp_path):
    # The sync worker (selectable with GUNICORN_WORKER_CLASS) is the one whose timeout kills a
    # request that runs too long; the test holds the contacts table so that an intake waits.
    # PostgreSQL only: a request waiting inside SQLite's busy handler (C code) cannot run the
    # worker's abort hook, so gunicorn SIGKILLs it a second later (the client sees the
    # connection close; the transaction never commits).
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: SQLite's busy wait defers the abort hook until SIGKILL")

    source = SourceFactory()
    _, key = bot_create(name="patient_bot")
    headers = {"Authorization": f"Token {key}", "Content-Type": "application/json"}
    body = json.dumps({"external_id": "late-lead", "source_id": source.pk}).encode()
    env = {"GUNICORN_WORKER_CLASS": "sync", "GUNICORN_THREADS": "1"}
    with gunicorn_server(tmp_path=tmp_path, workers=1, timeout=2, extra_env=env) as server:
        with connection.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute("LOCK TABLE crm_contact IN ACCESS EXCLUSIVE MODE")
            try:
                status, response_headers, content = request(
                    server, "POST", "/api/v1/contacts/", body=body, headers=headers
                )
            finally:
                cursor.execute("ROLLBACK")
        assert status == 503 and response_headers["Content-Type"] == "application/json"
        assert json.loads(content)["code"] == "timeout"
        assert "WORKER TIMEOUT" in server.log()
        status, _, _ = request(server, "GET", "/healthz")  # a new worker took over
        assert status == 200
    assert not Lead.objects.filter(external_id="late-lead").exists()
    assert Contact.objects.count() == 0


def test_live_server_moves_to_another_port_when_its_port_is_taken(tmp_path, monkeypatch):
    from tests.live import server as live

    taken = socket.socket()
    taken.bind(("127.0.0.1", live.free_port()))
    taken.listen()
    ports = iter([taken.getsockname()[1]])
    real_free_port = live.free_port
    monkeypatch.setattr(live, "free_port", lambda: next(ports, None) or real_free_port())
    try:
        with gunicorn_server(tmp_path=tmp_path, workers=1) as server:
            assert server.port != taken.getsockname()[1]
            assert request(server, "GET", "/healthz")[0] == 200
    finally:
        taken.close()
