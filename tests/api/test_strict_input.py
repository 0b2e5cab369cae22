"""Bad input is a clear 4xx naming the problem: bounded bodies, strict types, strict query parameters
(many found by schemathesis)."""

import pytest

from crm.models import Contact
from tests.factories import OperatorSourceFactory, SourceFactory


@pytest.mark.django_db
def test_oversized_body_is_413_and_writes_nothing(bot_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    src = SourceFactory()
    r = bot_client.post(
        "/api/v1/contacts/", {"external_id": "a", "source_id": src.pk, "pad": "x" * 2000}, format="json"
    )
    assert r.status_code == 413
    assert Contact.objects.count() == 0


@pytest.mark.django_db
def test_bad_page_size_is_400(staff_client):
    for value in ("abc", "0", "-1", "1.5", "9" * 5000):
        r = staff_client.get(f"/api/v1/contacts/?page_size={value}")
        if value == "9" * 5000:
            assert r.status_code == 200  # capped, not a crash
        else:
            assert r.status_code == 400 and "page_size" in r.json(), value


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    ["status=", "unassigned=", "source=", "source=1&source=2", "lead=4.5e%2B16", "operator=0"],
)
def test_empty_repeated_or_non_integer_filters_are_400(staff_client, query):
    r = staff_client.get(f"/api/v1/contacts/?{query}")
    assert r.status_code == 400
    assert query.split("=")[0] in r.json()


@pytest.mark.django_db
def test_operator_source_filter_with_unknown_id_is_an_empty_page(staff_client):
    OperatorSourceFactory()
    r = staff_client.get("/api/v1/operator-sources/?operator=987654")
    assert r.status_code == 200 and r.json()["results"] == []


@pytest.mark.django_db
def test_blank_external_id_filter_matches_no_lead(staff_client):
    from tests.factories import LeadFactory

    LeadFactory()
    r = staff_client.get("/api/v1/leads/?external_id=%20%20")
    assert r.status_code == 200 and r.json()["results"] == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/sources/", {"name": 12}, "name"),
        ("/api/v1/operators/", {"name": "x", "max_load": "7"}, "max_load"),
        ("/api/v1/operators/", {"name": "x", "max_load": 7.0}, "max_load"),
        ("/api/v1/operators/", {"name": "x", "is_active": "yes"}, "is_active"),
        ("/api/v1/operators/", {"name": "   "}, "name"),
        ("/api/v1/contacts/", {"external_id": 5, "source_id": 1}, "external_id"),
        ("/api/v1/contacts/", {"external_id": "a", "source_id": "1"}, "source_id"),
    ],
)
def test_request_bodies_take_json_types_strictly(staff_client, path, body, field):
    from crm.models import Operator, Source

    SourceFactory()
    before = (Source.objects.count(), Operator.objects.count(), Contact.objects.count())
    r = staff_client.post(path, body, format="json")
    assert r.status_code == 400 and field in r.json(), r.json()
    assert (Source.objects.count(), Operator.objects.count(), Contact.objects.count()) == before


@pytest.mark.django_db
def test_unknown_api_path_is_json_404(anon_client):
    r = anon_client.get("/api/v1/contacts/-5/")
    assert r.status_code == 404 and r.json() == {"detail": "Not found."}


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["since=", "source=", "source=1&source=2"])
def test_distribution_parameters_empty_or_repeated_are_400(staff_client, query):
    r = staff_client.get(f"/api/v1/stats/distribution/?{query}")
    assert r.status_code == 400 and query.split("=")[0] in r.json()
