"""/metrics under gunicorn: every worker's counters add up (prometheus_client's multiprocess
mode, set up by gunicorn.conf.py)."""

import http.client
import json

import pytest
from knox.models import AuthToken
from prometheus_client.parser import text_string_to_metric_families

from crm.services.accounts import bot_create
from tests.factories import OperatorFactory, OperatorSourceFactory, UserFactory
from tests.live.server import gunicorn_server

pytestmark = pytest.mark.django_db(transaction=True)


def call(server, method, path, key, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        headers = {"Authorization": f"Token {key}", "Content-Type": "application/json"}
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_counters_of_all_workers_add_up(tmp_path):
    link = OperatorSourceFactory(operator=OperatorFactory(max_load=5))
    _, bot_key = bot_create(name="metrics_bot")
    _, staff_key = AuthToken.objects.create(user=UserFactory(is_staff=True), expiry=None)
    with gunicorn_server(tmp_path=tmp_path, workers=3) as server:
        for i in range(12):  # each on a new connection: gunicorn spreads them over its workers
            status, content = call(
                server, "POST", "/api/v1/contacts/", bot_key, {"external_id": f"live-{i}", "source_id": link.source_id}
            )
            assert status == 201, content
        status, content = call(server, "GET", "/metrics", staff_key)
    assert status == 200
    found = {
        (s.name, s.labels.get("outcome")): s.value
        for family in text_string_to_metric_families(content.decode())
        for s in family.samples
        if s.name == "minicrm_intakes_total"
    }
    assert found[("minicrm_intakes_total", "assigned")] == 5
    assert found[("minicrm_intakes_total", "waiting")] == 7
