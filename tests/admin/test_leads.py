"""The lead's profile in the admin: who sees it, the search, the erasure action, and the page
with his contacts."""

import pytest
from django.contrib.auth.models import Permission

from crm.models import Contact, Event, EventType, Lead
from crm.services.intake import contact_register
from tests.factories import LeadFactory, OperatorFactory, OperatorSourceFactory, SourceFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def anna(rng):
    link = OperatorSourceFactory()
    contact = contact_register(
        external_id="tg:1001",
        source_id=link.source_id,
        name="Anna Petrova",
        phone="+7 912 345-67-89",
        email="Anna@Example.com",
        message="Is the blue sofa still available?",
        metadata={"utm_source": "newsletter"},
        rng=rng,
    )
    contact_register(external_id="tg:2002", source_id=link.source_id, name="Boris", rng=rng)
    return contact


def _staff_client(client, *codenames):
    user = UserFactory(is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="crm", codename__in=codenames))
    client.force_login(user)
    return client


def test_lead_list_and_page_show_the_profile_and_messages_to_staff(admin_client, anna):
    listed = admin_client.get("/admin/crm/lead/").content.decode()
    assert "Anna Petrova" in listed and "+79123456789" in listed and "anna@example.com" in listed
    page = admin_client.get(f"/admin/crm/lead/{anna.lead_id}/change/").content.decode()
    assert "Anna Petrova" in page and "Is the blue sofa still available?" in page


@pytest.mark.parametrize("term", ["petrova", "ANNA", "+7 (912) 345-67-89", "345 67 89", "anna@example", "TG:1001"])
def test_admin_lead_search_is_the_api_search(admin_client, anna, term):
    response = admin_client.get("/admin/crm/lead/", {"q": term})
    assert [lead.external_id for lead in response.context["cl"].result_list] == ["tg:1001"]


def test_contact_page_shows_the_lead_profile_message_and_metadata_to_staff(admin_client, anna):
    page = admin_client.get(f"/admin/crm/contact/{anna.pk}/change/").content.decode()
    for text in ("Anna Petrova", "+79123456789", "Is the blue sofa still available?", "utm_source", "newsletter"):
        assert text in page


def test_contact_search_finds_contacts_by_their_lead_profile(admin_client, anna):
    response = admin_client.get("/admin/crm/contact/", {"q": "petrova"})
    assert [c.pk for c in response.context["cl"].result_list] == [anna.pk]
    response = admin_client.get("/admin/crm/contact/", {"q": f"#{anna.pk}"})
    assert [c.pk for c in response.context["cl"].result_list] == [anna.pk]


def test_staff_without_the_lead_permission_sees_no_profile_on_contacts(client, anna):
    client = _staff_client(client, "view_contact")
    page = client.get(f"/admin/crm/contact/{anna.pk}/change/")
    assert page.status_code == 200
    text = page.content.decode()
    for hidden in ("Anna Petrova", "+79123456789", "Is the blue sofa", "newsletter"):
        assert hidden not in text
    # Nor can the search be used to probe the profile.
    assert list(client.get("/admin/crm/contact/", {"q": "petrova"}).context["cl"].result_list) == []
    assert client.get(f"/admin/crm/lead/{anna.lead_id}/change/").status_code == 403


def test_erase_action_asks_first_then_erases_through_the_service(admin_client, staff_user, anna):
    lead_id = anna.lead_id
    body = {"action": "erase_personal_data", "_selected_action": [str(lead_id)], "index": "0"}
    confirm = admin_client.post("/admin/crm/lead/", body)
    assert confirm.status_code == 200 and "Anna Petrova" in confirm.content.decode()
    assert Lead.objects.get(pk=lead_id).name == "Anna Petrova"  # nothing yet
    done = admin_client.post("/admin/crm/lead/", {**body, "confirm": "yes"}, follow=True)
    assert done.status_code == 200
    lead = Lead.objects.get(pk=lead_id)
    assert (lead.name, lead.phone, lead.email) == ("", "", "") and lead.erased_at is not None
    assert Contact.objects.get(pk=anna.pk).message == ""
    assert Event.objects.get(type=EventType.LEAD_ERASED).actor_user == staff_user
    assert Lead.objects.get(external_id="tg:2002").name == "Boris"  # not selected, untouched


def test_erase_action_needs_the_delete_permission(client, anna):
    client = _staff_client(client, "view_lead", "view_contact")
    body = {"action": "erase_personal_data", "_selected_action": [str(anna.lead_id)], "index": "0", "confirm": "yes"}
    client.post("/admin/crm/lead/", body)
    lead = Lead.objects.get(pk=anna.lead_id)
    assert lead.name == "Anna Petrova" and lead.erased_at is None
    assert not Event.objects.filter(type=EventType.LEAD_ERASED).exists()


def test_lead_search_is_normalised_like_the_api(admin_client):
    LeadFactory(external_id="user@example.com")
    LeadFactory(external_id="other@example.com")
    response = admin_client.get("/admin/crm/lead/", {"q": "  User@Example.COM "})
    assert [lead.external_id for lead in response.context["cl"].result_list] == ["user@example.com"]


def test_lead_page_lists_its_contacts_read_only(admin_client, rng):
    src = SourceFactory(name="tg")
    OperatorSourceFactory(operator=OperatorFactory(name="ivan"), source=src)
    contact = contact_register(external_id="u@x", source_id=src.pk, rng=rng)
    response = admin_client.get(f"/admin/crm/lead/{contact.lead_id}/change/")
    page = response.content.decode()
    assert f"#{contact.pk}" in page and "ivan" in page and "tg" in page
    assert not response.context["has_change_permission"]
