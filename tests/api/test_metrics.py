"""GET /metrics: who may scrape it, and that what it reports agrees with what happened and with
the database."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from crm.models import Contact
from tests.factories import OperatorFactory, OperatorSourceFactory, SourceFactory

pytestmark = pytest.mark.django_db


def samples(response) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted label items): value} of an exposition."""
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.content.decode())
        for s in family.samples
    }


def value(found: dict, name: str, **labels) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_anonymous_is_401_and_a_bot_is_403(anon_client, bot_client):
    assert anon_client.get("/metrics").status_code == 401
    assert bot_client.get("/metrics").status_code == 403


def test_an_allowed_address_may_scrape_without_a_key(anon_client, settings):
    settings.METRICS_ALLOWED_ADDRESSES = ["127.0.0.1"]
    assert anon_client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert anon_client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 401
    # A forwarded-for header is the client's own word: it does not make an address allowed.
    settings.METRICS_ALLOWED_ADDRESSES = ["10.9.9.9"]
    r = anon_client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="10.9.9.9")
    assert r.status_code == 401


def test_intakes_by_outcome_and_lock_hold_time_are_counted(
    staff_client, bot_client, django_capture_on_commit_callbacks
):
    link = OperatorSourceFactory(operator=OperatorFactory(max_load=1))
    before = samples(staff_client.get("/metrics"))
    with django_capture_on_commit_callbacks(execute=True):
        for i in range(3):
            r = bot_client.post(
                "/api/v1/contacts/", {"external_id": f"m-{i}", "source_id": link.source_id}, format="json"
            )
            assert r.status_code == 201
    after = samples(staff_client.get("/metrics"))
    assert (
        value(after, "minicrm_intakes_total", outcome="assigned")
        - value(before, "minicrm_intakes_total", outcome="assigned")
        == 1
    )
    assert (
        value(after, "minicrm_intakes_total", outcome="waiting")
        - value(before, "minicrm_intakes_total", outcome="waiting")
        == 2
    )
    hold = "minicrm_routing_lock_hold_seconds_count"
    assert value(after, hold, kind="intake") - value(before, hold, kind="intake") == 3
    route = {"view": "contact-list", "method": "POST", "status": "201"}
    latency = "minicrm_http_request_duration_seconds_count"
    assert value(after, latency, **route) - value(before, latency, **route) == 3


def test_waiting_contacts_and_operator_loads_are_read_from_the_database(staff_client, bot_client):
    op = OperatorFactory(name="metrics_op", max_load=1)
    link = OperatorSourceFactory(operator=op, source=SourceFactory(name="metrics_src"))
    SourceFactory(name="quiet_src")
    for i in range(3):
        bot_client.post("/api/v1/contacts/", {"external_id": f"w-{i}", "source_id": link.source_id}, format="json")
    found = samples(staff_client.get("/metrics"))
    assert value(found, "minicrm_waiting_contacts", source="metrics_src") == 2
    assert value(found, "minicrm_waiting_contacts", source="quiet_src") == 0
    assert value(found, "minicrm_operator_open_contacts", operator="metrics_op") == 1
    assert value(found, "minicrm_operator_max_load", operator="metrics_op") == 1
    assert Contact.objects.waiting().count() == 2


def test_throttled_requests_are_counted_by_scope(staff_client, bot_client, settings):
    source = SourceFactory()
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"intake": "1/min", "api": None}}
    before = samples(staff_client.get("/metrics"))
    body = {"source_id": source.pk}
    codes = [
        bot_client.post("/api/v1/contacts/", {**body, "external_id": f"t-{i}"}, format="json").status_code
        for i in range(3)
    ]
    assert codes == [201, 429, 429]
    after = samples(staff_client.get("/metrics"))
    name = "minicrm_throttled_requests_total"
    assert value(after, name, scope="intake") - value(before, name, scope="intake") == 2


def test_an_unknown_method_is_one_series(staff_client):
    staff_client.generic("BREW", "/healthz")
    found = samples(staff_client.get("/metrics"))
    assert not any(("method", "BREW") in labels for _, labels in found)
