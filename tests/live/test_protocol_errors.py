"""Requests gunicorn refuses before Django sees them (a malformed request line, an oversized
header, an invalid header name or HTTP version) get the API's JSON error, not gunicorn's HTML
page: `{"detail": ..., "code": ...}` with the status gunicorn chose."""

import json
import socket

import pytest

from minicrm_project.gunicorn_worker import json_error
from tests.live.server import gunicorn_server

pytestmark = pytest.mark.django_db(transaction=True)

BAD_REQUESTS = [
    # (what is sent, status, code, words of the detail)
    (b"GARBAGE\r\n\r\n", 400, "bad_request", "Invalid Request Line"),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 400, "bad_request", "Request Line is too large"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n", 431, "headers_too_large", "headers"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: y\r\n\r\n", 400, "bad_request", "Invalid HTTP header name"),
    (b"GET /api/v1/contacts/ HTTP/9.9\r\nHost: x\r\n\r\n", 400, "bad_request", "Invalid HTTP Version"),
]


def raw_exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def parse(answer: bytes) -> tuple[int, dict, bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def test_protocol_errors_are_json(tmp_path):
    with gunicorn_server(tmp_path=tmp_path, workers=1) as server:
        for data, status, code, words in BAD_REQUESTS:
            got_status, headers, body = parse(raw_exchange(server.port, data))
            assert got_status == status, (data[:40], got_status, body)
            assert headers["content-type"] == "application/json"
            assert int(headers["content-length"]) == len(body)
            answer = json.loads(body)
            assert answer["code"] == code and words in answer["detail"], answer
            assert b"<html>" not in body
        # The worker goes on serving after each of them.
        status, _, body = parse(
            raw_exchange(server.port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        )
        assert status == 200
    # gunicorn logged them as its own refusals, not as errors of the application.
    assert "Traceback" not in server.log()


def test_the_json_keeps_gunicorns_status_and_escapes_what_the_client_sent():
    page = (
        b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/html\r\nContent-Length: 99\r\n\r\n"
        b"<html>\n  <head>\n    <title>Bad Request</title>\n  </head>\n  <body>\n    <h1><p>Bad Request</p></h1>\n"
        b"    Invalid Request Line &#x27;&lt;x&gt; &quot;&#x27;\n  </body>\n</html>\n"
    )
    status, headers, body = parse(json_error(page))
    assert status == 400 and headers["content-type"] == "application/json"
    assert json.loads(body) == {"detail": "Bad Request: Invalid Request Line '<x> \"'", "code": "bad_request"}
    assert json_error(b"not an HTTP answer") is None
