"""What the admin shows of the stored words (crm/admin/display.py): the decision table on a
contact's page, and the timeline's details as labels in the reader's language, never the stored
keys."""

import pytest
from django.utils import translation

from crm.admin.display import event_details
from crm.models import EventVia, OperatorAvailability
from tests.admin.helpers import open_contacts
from tests.factories import ContactFactory, OperatorFactory, OperatorSourceFactory, SourceFactory

pytestmark = pytest.mark.django_db


def test_event_details_are_labels_in_the_readers_language():
    data = {"via": "queue", "reason": "", "to_operator_id": 3, "new_lead": True, "previous": "away"}
    with translation.override("ru"):
        details = event_details(data)
        assert details == [
            ("как", str(EventVia.QUEUE.label)),
            ("оператору", "#3"),
            ("новый лид", "да"),
            ("было", str(OperatorAvailability.AWAY.label)),
        ]
        assert str(EventVia.QUEUE.label) != "queue"  # translated, not the stored word
    with translation.override("en"):
        assert event_details({"via": "queue"}) == [("how", str(EventVia.QUEUE.label))]


def test_contact_page_is_read_only_and_shows_the_decision(admin_client):
    contact = ContactFactory(
        assignment={
            "via": "intake",
            "strategy": "random",
            "affinity": None,
            "operator_id": 2,
            "reason": "",
            "candidates": [
                {"operator_id": 1, "name": "ivan", "weight": 20, "load": 3, "max_load": 3, "excluded": "full"},
                {"operator_id": 2, "name": "maria", "weight": 10, "load": 0, "max_load": 5, "excluded": None},
            ],
            "extra": {"future": "field"},
        }
    )
    response = admin_client.get(f"/admin/crm/contact/{contact.pk}/change/")
    page = response.content.decode()
    assert not response.context["has_change_permission"]
    assert "<th>how</th><td>on registration</td>" in page
    assert "<th>strategy</th><td>weighted random</td>" in page
    assert "<th>chosen operator</th><td>maria (#2)</td>" in page
    assert "<td>ivan (#1)</td><td>20</td><td>3 / 3</td><td>full</td>" in page
    assert '<tr class="crm-chosen"><td>maria (#2)</td><td>10</td><td>0 / 5</td><td>chosen</td>' in page
    assert "&quot;future&quot;: &quot;field&quot;" in page  # unknown parts are shown, not hidden
    assert admin_client.get("/admin/crm/contact/add/").status_code == 403


def test_a_real_decision_renders(admin_client, rng):
    src = SourceFactory()
    OperatorSourceFactory(operator=OperatorFactory(name="ivan"), source=src)
    [contact] = open_contacts(src, 1, rng)
    page = admin_client.get(f"/admin/crm/contact/{contact.pk}/change/").content.decode()
    assert "<th>how</th><td>on registration</td>" in page and "<td>chosen</td>" in page


def test_contact_page_without_a_decision(admin_client):
    contact = ContactFactory()
    assert "No decision recorded." in admin_client.get(f"/admin/crm/contact/{contact.pk}/change/").content.decode()
