"""A contact's timeline on its admin page speaks the reader's language: its details are labels
and words, never the stored keys."""

from django.utils import translation

from crm.admin.display import event_details
from crm.models import EventVia, OperatorAvailability


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
