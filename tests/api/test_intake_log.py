"""One log line per intake decision."""

import logging

import pytest

from tests.factories import OperatorSourceFactory, SourceFactory


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
