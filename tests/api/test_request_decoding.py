"""Request decoding: a body or query string is only ever decoded with a real text encoding
(UTF-8, US-ASCII, ISO-8859-1), under the body cap; any other charset in Content-Type is a 415
naming it, for the API, the admin's forms and query strings alike, and nothing is written."""

import bz2
import io
import json

import pytest
from django.contrib.auth.models import User
from django.test import RequestFactory
from rest_framework.test import APIRequestFactory, force_authenticate

from crm.api.views import ContactViewSet
from crm.models import Contact, Lead
from tests.factories import SourceFactory

pytestmark = pytest.mark.django_db

# Codecs of Python's registry that are not text encodings (bytes-to-bytes, str-to-str), text
# encodings we do not decode, and names that are no codec at all.
REFUSED = ["bz2", "zlib", "rot13", "base64", "hex", "uu", "quopri", "utf-7", "utf-16", "unicode_escape", "nope", ""]


def intake_body(source) -> bytes:
    return json.dumps({"external_id": "lead-1", "source_id": source.pk}).encode()


@pytest.mark.parametrize("charset", REFUSED)
def test_intake_with_a_charset_that_is_no_text_encoding_is_415(bot_client, charset):
    src = SourceFactory()
    r = bot_client.generic(
        "POST", "/api/v1/contacts/", intake_body(src), content_type=f"application/json; charset={charset}"
    )
    assert r.status_code == 415
    assert r.json()["code"] == "unsupported_charset" and f'"{charset}"' in r.json()["detail"]
    assert Contact.objects.count() == 0 and Lead.objects.count() == 0


def test_bz2_bomb_is_refused_before_anything_is_inflated(bot_client):
    src = SourceFactory()
    inflated = b'{"external_id": "x", "source_id": %d, "pad": "%s"}' % (src.pk, b" " * 5_000_000)
    bomb = bz2.compress(inflated)
    assert len(bomb) < 1000
    r = bot_client.generic("POST", "/api/v1/contacts/", bomb, content_type="application/json; charset=bz2")
    assert r.status_code == 415
    assert Contact.objects.count() == 0


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin-1"])
def test_intake_in_a_text_encoding_is_accepted(bot_client, charset):
    src = SourceFactory()
    r = bot_client.generic(
        "POST", "/api/v1/contacts/", intake_body(src), content_type=f"application/json; charset={charset}"
    )
    assert r.status_code == 201, r.content
    assert Lead.objects.get().external_id == "lead-1"


def test_latin1_body_is_decoded_as_latin1(bot_client):
    src = SourceFactory()
    body = json.dumps({"external_id": "café", "source_id": src.pk}, ensure_ascii=False)
    r = bot_client.generic(
        "POST", "/api/v1/contacts/", body.encode("latin-1"), content_type="application/json; charset=iso-8859-1"
    )
    assert r.status_code == 201
    assert Lead.objects.get().external_id == "café"


@pytest.mark.parametrize(
    ("charset", "body"), [("utf-8", b'{"external_id": "\xff"}'), ("us-ascii", b'{"a": "\xc3\xa9"}')]
)
def test_bytes_that_are_not_the_declared_charset_are_400(bot_client, charset, body):
    r = bot_client.generic("POST", "/api/v1/contacts/", body, content_type=f"application/json; charset={charset}")
    assert r.status_code == 400
    assert "not valid" in r.json()["detail"]
    assert Contact.objects.count() == 0


def test_parser_refuses_the_charset_even_without_the_middleware():
    # APIRequestFactory calls the view directly: no middleware runs.
    src = SourceFactory()
    request = APIRequestFactory().generic(
        "POST", "/api/v1/contacts/", intake_body(src), content_type="application/json; charset=zlib"
    )
    force_authenticate(request, user=User.objects.create_superuser("root", password="x"))
    response = ContactViewSet.as_view({"post": "create"})(request)
    assert response.status_code == 415
    assert Contact.objects.count() == 0


def wsgi_call(method: str, path: str, *, query: str = "", body: bytes = b"", content_type: str) -> tuple[str, bytes]:
    """Through the WSGI application that gunicorn serves (the test client skips its guard).
    Only for requests the guard answers itself: Django's request signals would close the
    test's connection."""
    from minicrm_project.wsgi import application

    environ = RequestFactory()._base_environ(
        PATH_INFO=path,
        REQUEST_METHOD=method,
        QUERY_STRING=query,
        CONTENT_TYPE=content_type,
        CONTENT_LENGTH=str(len(body)),
        **{"wsgi.input": io.BytesIO(body)},
    )
    started = []
    content = b"".join(application(environ, lambda status, headers: started.append(status)))
    return started[0], content


@pytest.mark.parametrize("charset", ["rot13", "bz2"])
def test_query_string_is_never_decoded_with_the_body_charset(charset):
    # Django decodes request.GET with the charset of Content-Type, even on a GET, and does it
    # while building the request: without the guard this is an exception before any view.
    status, content = wsgi_call(
        "GET", "/api/v1/contacts/", query="status=open", content_type=f"text/plain; charset={charset}"
    )
    assert status.startswith("415") and json.loads(content)["code"] == "unsupported_charset"


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded; charset=rot13", "multipart/form-data; boundary=x; charset=bz2"]
)
def test_admin_form_with_a_non_text_charset_is_415_not_500(client, content_type):
    r = client.generic("POST", "/admin/login/", b"username=a&password=b", content_type=content_type)
    assert r.status_code == 415
    assert r["Content-Type"].startswith("text/plain")
    assert "Unsupported charset" in r.content.decode()
    status, content = wsgi_call(
        "POST", "/admin/login/", query="next=/admin/", body=b"username=a&password=b", content_type=content_type
    )
    assert status.startswith("415") and b"Unsupported charset" in content


def test_idempotency_fingerprint_sees_the_decoded_request(bot_client):
    # The same request in two text encodings is the same request: the replay is served.
    src = SourceFactory()
    body = json.dumps({"external_id": "café", "source_id": src.pk}, ensure_ascii=False)
    headers = {"HTTP_IDEMPOTENCY_KEY": "k-1"}
    first = bot_client.generic(
        "POST", "/api/v1/contacts/", body.encode(), content_type="application/json; charset=utf-8", **headers
    )
    again = bot_client.generic(
        "POST", "/api/v1/contacts/", body.encode("latin-1"), content_type="application/json; charset=latin-1", **headers
    )
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert Contact.objects.count() == 1


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "zstd"])
def test_compressed_body_is_415_naming_the_coding(bot_client, coding):
    src = SourceFactory()
    r = bot_client.generic(
        "POST", "/api/v1/contacts/", intake_body(src), content_type="application/json", HTTP_CONTENT_ENCODING=coding
    )
    assert r.status_code == 415
    assert r.json()["code"] == "unsupported_content_encoding" and coding in r.json()["detail"]
    assert Contact.objects.count() == 0
    # The guard in front of Django, as gunicorn serves it.
    status, _ = wsgi_call_with_headers(coding)
    assert status.startswith("415")


def wsgi_call_with_headers(coding: str) -> tuple[str, bytes]:
    from minicrm_project.wsgi import application

    environ = RequestFactory()._base_environ(
        PATH_INFO="/api/v1/contacts/",
        REQUEST_METHOD="POST",
        CONTENT_TYPE="application/json",
        CONTENT_LENGTH="2",
        HTTP_CONTENT_ENCODING=coding,
        **{"wsgi.input": io.BytesIO(b"{}")},
    )
    started = []
    content = b"".join(application(environ, lambda status, headers: started.append(status)))
    return started[0], content


def asgi_call(*, query: bytes = b"", headers: list, body_parts: list[bytes]) -> tuple[int, dict]:
    """Through minicrm_project.asgi, for requests its guard answers itself."""
    import asyncio

    from minicrm_project.asgi import application

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/contacts/",
        "raw_path": b"/api/v1/contacts/",
        "query_string": query,
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
    messages = [
        {"type": "http.request", "body": part, "more_body": i < len(body_parts) - 1}
        for i, part in enumerate(body_parts)
    ]
    sent = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    asyncio.run(application(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], json.loads(body)


def test_asgi_entry_point_refuses_charsets_and_codings_and_caps_the_body(settings):
    status, body = asgi_call(
        query=b"status=open", headers=[(b"content-type", b"application/json; charset=rot13")], body_parts=[b"{}"]
    )
    assert status == 415 and body["code"] == "unsupported_charset"
    status, body = asgi_call(headers=[(b"content-encoding", b"gzip")], body_parts=[b"{}"])
    assert status == 415 and body["code"] == "unsupported_content_encoding"
    # A body without a length, streamed past the cap: refused without reading further.
    chunk = b"x" * 16384
    status, body = asgi_call(
        headers=[(b"content-type", b"application/json")],
        body_parts=[chunk] * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE // len(chunk) + 2),
    )
    assert status == 413 and body["code"] == "payload_too_large"
