"""Privacy by default: API keys, idempotency keys, names, phones, emails and messages never
reach the logs, on the intake's success and failure paths, search, and erasure."""

import logging
from pathlib import Path

import pytest
from django.db import IntegrityError

from crm.api.exceptions import exception_handler
from crm.models import Lead
from crm.services.lead_erasure import lead_erase
from tests.factories import OperatorSourceFactory

pytestmark = pytest.mark.django_db

PERSONAL = {
    "external_id": "Private-Ext-314",
    "name": "Varvara Hiddenova",
    "phone": "+7 912 345-67-89",
    "email": "varvara.hidden@example.com",
    "message": "a-very-private-message",
    "metadata": {"private_meta": "meta-secret-value"},
}
NEEDLES = [
    "private-ext-314",
    "varvara",
    "hiddenova",
    "79123456789",
    "345-67-89",
    "varvara.hidden",
    "a-very-private-message",
    "meta-secret-value",
    "private_meta",
    "idem-key-secret-1",
]


def _assert_clean(caplog, extra_needles=()):
    text = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records).lower()
    for needle in [*NEEDLES, *extra_needles]:
        assert needle.lower() not in text, f"{needle!r} found in the logs:\n{text}"


def test_intake_logs_ids_only(bot_client, caplog):
    caplog.set_level(logging.DEBUG)
    link = OperatorSourceFactory()
    key = bot_client._credentials["HTTP_AUTHORIZATION"].split()[1]
    for _ in range(2):  # new, then replayed
        r = bot_client.post(
            "/api/v1/contacts/",
            {"source_id": link.source_id, **PERSONAL},
            format="json",
            HTTP_IDEMPOTENCY_KEY="idem-key-secret-1",
        )
        assert r.status_code == 201
    intake_lines = [r.getMessage() for r in caplog.records if r.name == "crm.intake"]
    assert len(intake_lines) == 2 and "contact=" in intake_lines[0]
    _assert_clean(caplog, [key])


def test_refused_intake_logs_no_submitted_value(bot_client, caplog):
    caplog.set_level(logging.DEBUG)
    link = OperatorSourceFactory()
    for field, value in [("phone", "+7 912 hiddenova"), ("email", "varvara.hidden@"), ("message", "x" * 4001)]:
        r = bot_client.post("/api/v1/contacts/", {**PERSONAL, "source_id": link.source_id, field: value}, format="json")
        assert r.status_code == 400
    _assert_clean(caplog)


def test_search_and_erasure_log_no_personal_data(bot_client, staff_client, caplog, django_capture_on_commit_callbacks):
    caplog.set_level(logging.DEBUG)
    link = OperatorSourceFactory()
    bot_client.post("/api/v1/contacts/", {"source_id": link.source_id, **PERSONAL}, format="json")
    for term in ("varvara.hidden@example.com", "+7 912 345-67-89", "Hiddenova"):
        assert len(staff_client.get("/api/v1/leads/", {"search": term}).json()["results"]) == 1
    staff_client.get("/api/v1/leads/", {"search": "x" * 300})  # a 400 is logged by path only
    with django_capture_on_commit_callbacks(execute=True):
        lead_erase(lead_id=Lead.objects.get().pk)
    assert any(r.name == "crm.leads" for r in caplog.records)
    _assert_clean(caplog)


def test_a_constraint_conflict_logs_the_constraint_not_the_row(caplog):
    caplog.set_level(logging.DEBUG)
    exc = IntegrityError(
        'duplicate key value violates unique constraint "crm_lead_external_id_key"\n'
        "DETAIL:  Key (external_id)=(private-ext-314) already exists."
    )
    response = exception_handler(exc, {})
    assert response.status_code == 409
    assert "crm_lead_external_id_key" in caplog.text
    _assert_clean(caplog)


def test_the_access_log_format_leaves_out_query_strings_and_referrers():
    namespace: dict = {}
    exec(Path("gunicorn.conf.py").read_text(), namespace)
    fmt = namespace["access_log_format"]
    assert "%(U)s" in fmt
    for leaky in ("%(r)s", "%(q)s", "%(f)s", "%(u)s", "{"):
        assert leaky not in fmt
