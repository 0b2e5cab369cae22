"""Messages that show a number take the plural form it needs, in English and in Russian, and
name things with the right article."""

import pytest
from django.utils import translation

from crm.errors import DomainError
from crm.models import LEAD_NAME_MAX_LENGTH, MESSAGE_MAX_LENGTH
from crm.services import routing_config
from crm.services.intake import contact_register
from crm.services.leads import lead_normalise_external_id, message_clean, name_normalise
from tests.factories import OperatorFactory, OperatorSourceFactory, SourceFactory

pytestmark = pytest.mark.django_db


def refusal(fn, **kwargs) -> str:
    with pytest.raises(DomainError) as caught:
        fn(**kwargs)
    return caught.value.message


def busy_operator(n: int):
    link = OperatorSourceFactory(operator=OperatorFactory(name="maria", max_load=10))
    for i in range(n):
        contact_register(external_id=f"lead-{i}", source_id=link.source_id)
    return link.operator


def test_an_operator_and_a_source_that_exist_already():
    OperatorFactory(name="olga")
    SourceFactory(name="site")
    assert refusal(routing_config.operator_create, name="OLGA").startswith("An operator named 'olga' already exists")
    assert refusal(routing_config.source_create, name="SITE").startswith("A source named 'site' already exists")


@pytest.mark.parametrize(
    ("n", "english", "russian"),
    [
        (1, "maria has 1 open contact;", "1 открытое обращение;"),
        (2, "maria has 2 open contacts;", "2 открытых обращения;"),
        (5, "maria has 5 open contacts;", "5 открытых обращений;"),
    ],
)
def test_max_load_refusal_counts_open_contacts_in_the_right_form(n, english, russian):
    operator = busy_operator(n)
    assert english in refusal(routing_config.operator_update, operator_id=operator.pk, max_load=0)
    with translation.override("ru"):
        assert russian in refusal(routing_config.operator_update, operator_id=operator.pk, max_load=0)


def test_external_id_length_refusal_speaks_russian():
    with translation.override("ru"):
        assert "длиннее 255 символов" in refusal(lead_normalise_external_id, external_id="x" * 300)


@pytest.mark.parametrize(
    ("fn", "raw", "russian"),
    [
        (name_normalise, "x" * (LEAD_NAME_MAX_LENGTH + 1), f"Не больше {LEAD_NAME_MAX_LENGTH} символов."),
        (message_clean, "x" * (MESSAGE_MAX_LENGTH + 1), f"Не больше {MESSAGE_MAX_LENGTH} символов."),
    ],
)
def test_length_limits_of_a_leads_profile_speak_russian(fn, raw, russian):
    assert refusal(fn, raw=raw) == f"At most {len(raw) - 1} characters."
    with translation.override("ru"):
        assert refusal(fn, raw=raw) == russian
