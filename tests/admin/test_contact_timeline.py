"""A contact's admin page shows its timeline."""

import pytest

from crm.services.intake import contact_register
from tests.factories import OperatorSourceFactory

pytestmark = pytest.mark.django_db


def test_contact_admin_page_shows_the_timeline(client, staff_user, rng):
    link = OperatorSourceFactory()
    contact = contact_register(external_id="a", source_id=link.source_id, rng=rng)
    client.force_login(staff_user)
    page = client.get(f"/admin/crm/contact/{contact.pk}/change/").content.decode()
    assert "contact registered" in page and "contact assigned" in page
    assert link.operator.name in page
