"""What the commands print shows every count in the form it needs, in English and in Russian."""

import io

import pytest
from django.core.management import call_command
from django.utils import translation

from crm.models import Operator
from crm.services.intake import contact_register
from tests.factories import OperatorFactory, OperatorSourceFactory, SourceFactory

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_demo_counts_in_english_and_russian():
    assert "created 4 operators, 3 sources, 7 weights" in run("seed_demo")
    with translation.override("ru"):
        assert "создано 0 операторов, 0 источников, 0 весов" in run("seed_demo")


@pytest.mark.parametrize(
    ("waiting", "english"), [(1, "Assigned 1 waiting contact."), (3, "Assigned 3 waiting contacts.")]
)
def test_assign_waiting_summary_is_singular_or_plural(waiting, english):
    op = OperatorFactory(max_load=0)
    link = OperatorSourceFactory(operator=op, source=SourceFactory(name="tg"))
    for i in range(waiting):
        contact_register(external_id=f"w{i}", source_id=link.source_id)
    Operator.objects.filter(pk=op.pk).update(max_load=10)
    assert f"{english} Sources: 1; still waiting: 0." in run("assign_waiting")


def test_distribution_report_in_russian():
    link = OperatorSourceFactory(operator=OperatorFactory(name="ivan"), source=SourceFactory(name="tg"))
    contact_register(external_id="x", source_id=link.source_id)
    with translation.override("ru"):
        text = run("distribution_report")
    assert "1 обращение за всё время" in text and "1 источник." in text


def test_a_second_first_run_says_how_to_get_credentials_back():
    run("bootstrap_local")
    again = run("bootstrap_local")
    assert "nothing to set up" in again and "changepassword" in again and "make reset" in again
