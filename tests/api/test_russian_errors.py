"""Every refusal a user can read speaks his language: the domain errors that carry an id
("Contact 5 does not exist."), the strict input rules of the API, and the service refusals the
admin shows. `Accept-Language: ru` gets Russian; without it, English."""

import pytest

from crm.models import Contact, OperatorSource
from crm.services.intake import contact_register
from tests.factories import OperatorFactory, OperatorSourceFactory, SourceFactory

pytestmark = pytest.mark.django_db

RU = {"HTTP_ACCEPT_LANGUAGE": "ru"}


def test_a_missing_operator_is_named_in_russian(staff_client, rng):
    link = OperatorSourceFactory()
    contact = contact_register(external_id="a", source_id=link.source_id, rng=rng)
    r = staff_client.post(f"/api/v1/contacts/{contact.pk}/reassign/", {"operator_id": 999}, format="json", **RU)
    assert r.status_code == 400 and r.json() == {"operator_id": ["Оператора 999 не существует."]}
    assert Contact.objects.get(pk=contact.pk).operator_id == link.operator_id


def test_the_same_error_stays_english_without_accept_language(staff_client, rng):
    link = OperatorSourceFactory()
    contact = contact_register(external_id="a", source_id=link.source_id, rng=rng)
    r = staff_client.post(f"/api/v1/contacts/{contact.pk}/reassign/", {"operator_id": 999}, format="json")
    assert r.json() == {"operator_id": ["Operator 999 does not exist."]}


@pytest.mark.parametrize(
    ("url", "english", "russian"),
    [
        ("/api/v1/contacts/999/", "Not found: contact 999.", "Не найдено: обращение 999."),
        ("/api/v1/operators/999/", "Not found: operator 999.", "Не найдено: оператор 999."),
        ("/api/v1/leads/999/", "Not found: lead 999.", "Не найдено: лид 999."),
    ],
)
def test_an_unknown_id_in_the_path_is_a_404_in_the_callers_language(staff_client, url, english, russian):
    # Django's own message named the model's class in English: "No Contact matches the given query."
    assert staff_client.get(url).json() == {"detail": english, "code": "not_found"}
    r = staff_client.get(url, **RU)
    assert r.status_code == 404 and r.json() == {"detail": russian, "code": "not_found"}


def test_a_missing_contact_on_a_write_is_russian_and_nothing_is_written(staff_client):
    r = staff_client.post("/api/v1/contacts/999/close/", format="json", **RU)
    assert r.status_code == 404 and r.json() == {"detail": "Не найдено: обращение 999.", "code": "not_found"}
    assert not Contact.objects.exists()


def test_an_unknown_source_on_intake_is_russian_and_nothing_is_written(bot_client):
    r = bot_client.post("/api/v1/contacts/", {"external_id": "a", "source_id": 999}, format="json", **RU)
    assert r.status_code == 400
    assert r.json() == {"source_id": ["Источника 999 не существует."]}
    assert not Contact.objects.exists()


def test_unknown_fields_and_parameters_are_russian(staff_client, bot_client):
    source = SourceFactory()
    r = bot_client.post(
        "/api/v1/contacts/", {"external_id": "a", "source_id": source.pk, "lead_name": "x"}, format="json", **RU
    )
    assert r.status_code == 400 and r.json() == {"lead_name": ["Неизвестное поле."]}
    r = staff_client.get("/api/v1/contacts/?page_size=2&page_size=3", **RU)
    assert r.status_code == 400 and r.json() == {"page_size": ["Этот параметр можно указать только один раз."]}
    r = staff_client.get("/api/v1/contacts/?colour=red", **RU)
    assert r.json() == {"colour": ["Неизвестный параметр запроса."]}


def test_a_closed_contact_conflict_is_russian(staff_client, rng):
    link = OperatorSourceFactory()
    contact = contact_register(external_id="a", source_id=link.source_id, rng=rng)
    staff_client.post(f"/api/v1/contacts/{contact.pk}/close/", format="json")
    r = staff_client.post(f"/api/v1/contacts/{contact.pk}/reassign/", {}, format="json", **RU)
    assert r.status_code == 409
    assert r.json()["detail"] == f"Обращение {contact.pk} закрыто; переназначить можно только открытое обращение."


def test_a_duplicate_link_is_russian_and_not_written(staff_client):
    link = OperatorSourceFactory(weight=5)
    r = staff_client.post(
        "/api/v1/operator-sources/",
        {"operator_id": link.operator_id, "source_id": link.source_id, "weight": 7},
        format="json",
        **RU,
    )
    assert r.status_code == 400
    assert r.json() == {
        "non_field_errors": [
            f"Оператор {link.operator_id} уже связан с источником {link.source_id} (связь {link.pk}, вес 5); "
            "измените вес этой связи."
        ]
    }
    assert OperatorSource.objects.get().weight == 5


def test_a_lead_field_error_is_russian(bot_client):
    source = SourceFactory()
    r = bot_client.post(
        "/api/v1/contacts/", {"external_id": "a", "source_id": source.pk, "phone": "call me"}, format="json", **RU
    )
    assert r.status_code == 400 and r.json() == {"phone": ["В номере телефона не бывает букв."]}


def test_an_admin_refusal_is_russian(admin_client, rng):
    source = SourceFactory()
    busy = OperatorFactory(name="busy")
    OperatorSourceFactory(operator=busy, source=source)
    contact = contact_register(external_id="a", source_id=source.pk, rng=rng)
    response = admin_client.post(
        "/admin/crm/contact/",
        {"action": "reassign_contacts", "_selected_action": [contact.pk], "operator": busy.pk},
        follow=True,
        **RU,
    )
    page = response.content.decode()
    assert f"#{contact.pk}: Обращение {contact.pk} уже назначено оператору {busy.pk}." in page
    assert Contact.objects.get(pk=contact.pk).operator_id == busy.pk
