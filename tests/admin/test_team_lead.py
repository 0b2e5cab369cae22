"""What a team lead trips over in the staff screens: one "close" on a contact's page, the
reassign choice offers exactly whom the service accepts, filters and lists say what they mean."""

import pytest

from crm.errors import DomainError
from crm.models import Contact, Operator
from crm.selectors import contact_reassign_targets
from crm.services.contacts import contact_reassign
from crm.services.intake import contact_register
from tests.factories import ContactFactory, OperatorFactory, OperatorSourceFactory, SourceFactory

pytestmark = pytest.mark.django_db


def test_reassign_choice_is_exactly_whom_the_service_accepts(admin_client, rng):
    source = SourceFactory()
    current = OperatorFactory(name="current", max_load=5)
    OperatorSourceFactory(operator=current, source=source, weight=10)
    contact = contact_register(external_id="lead-1", source_id=source.pk, rng=rng)
    assert contact.operator_id == current.pk
    others = {
        "room": OperatorFactory(name="room", max_load=3),
        "paused": OperatorFactory(name="paused", max_load=3),
        "full": OperatorFactory(name="full", max_load=0),
        "inactive": OperatorFactory(name="inactive", max_load=3, is_active=False),
    }
    for name, operator in others.items():
        OperatorSourceFactory(operator=operator, source=source, weight=0 if name == "paused" else 10)
    OperatorFactory(name="elsewhere")  # serves another source

    page = admin_client.get(f"/admin/crm/contact/{contact.pk}/change/")
    offered = [op.name for op in page.context["reassign_operators"]]
    assert offered == ["paused", "room"]
    assert offered == [op.name for op in contact_reassign_targets(source_id=source.pk, current_operator_id=current.pk)]

    # Every operator not offered is refused by the service, and nothing moves.
    for operator in Operator.objects.exclude(name__in=offered):
        with pytest.raises(DomainError):
            contact_reassign(contact_id=contact.pk, operator_id=operator.pk)
        assert Contact.objects.get(pk=contact.pk).operator_id == current.pk
    # Every operator offered is accepted.
    for name in offered:
        moved = contact_reassign(contact_id=contact.pk, operator_id=others[name].pk)
        assert moved.operator_id == others[name].pk


def test_contact_page_has_one_close_and_a_way_back(admin_client, rng):
    source = SourceFactory()
    OperatorSourceFactory(source=source)
    contact = contact_register(external_id="lead-2", source_id=source.pk, rng=rng)
    page = admin_client.get(f"/admin/crm/contact/{contact.pk}/change/").content.decode()
    assert page.count('id="close-contact"') == 1
    assert 'class="closelink"' in page and ">Back to the contact list</a>" in page
    assert ">Close</a>" not in page


def test_operator_filter_names_the_contacts_without_one(admin_client):
    ContactFactory()  # waiting: no operator
    page = admin_client.get("/admin/crm/contact/").content.decode()
    filters = page[page.index('id="changelist-filter"') :]
    assert "no operator" in filters
    assert ">-</a>" not in filters and ">-\n" not in filters


def test_index_puts_the_plumbing_below_the_daily_work(client, admin_user):
    client.force_login(admin_user)
    apps = client.get("/admin/").context["app_list"]
    names = [str(app["name"]) for app in apps]
    assert names[-1] == "Access and integrations"
    access = {str(model["name"]) for model in apps[-1]["models"]}
    assert {"API keys", "Bot source bindings", "Idempotency keys", "Users", "Groups"} <= {
        name[:1].upper() + name[1:] for name in access
    }
    daily = {model["object_name"] for app in apps[:-1] for model in app["models"]}
    assert {"Contact", "Lead", "Operator", "Source"} <= daily
    assert not daily & {"IdempotencyKey", "BotSource", "AuthToken", "User", "Group"}


def test_there_is_no_view_site_link_to_the_api_docs(admin_client):
    page = admin_client.get("/admin/").content.decode()
    assert "View site" not in page and 'href="/docs' not in page
