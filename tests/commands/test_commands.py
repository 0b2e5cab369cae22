"""The management commands: what they print, what they write, how they fail."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from knox.models import AuthToken

from crm.models import Contact, Operator, Source
from crm.services.intake import contact_register
from tests.factories import OperatorFactory, OperatorSourceFactory, SourceFactory

pytestmark = pytest.mark.django_db


def test_create_bot_prints_key_last_and_key_works(client):
    out, err = io.StringIO(), io.StringIO()
    call_command("create_bot", "telegram_bot_A", stdout=out, stderr=err)
    key = out.getvalue().strip().splitlines()[-1]
    assert len(key) >= 32 and " " not in key
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    src = Source.objects.create(name="s")
    assert api.post("/api/v1/contacts/", {"external_id": "a", "source_id": src.pk}, format="json").status_code == 201
    assert api.get("/api/v1/operators/").status_code == 403


def test_create_bot_twice_is_a_command_error():
    call_command("create_bot", "dup", stdout=io.StringIO(), stderr=io.StringIO())
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_bot", "dup", stdout=io.StringIO(), stderr=io.StringIO())


def test_create_api_token_for_staff_user(staff_user):
    out = io.StringIO()
    call_command("create_api_token", staff_user.username, stdout=out, stderr=io.StringIO())
    key = out.getvalue().strip().splitlines()[-1]
    assert AuthToken.objects.filter(user=staff_user, token_key=key[:15]).exists()
    with pytest.raises(CommandError):
        call_command("create_api_token", "nobody", stdout=io.StringIO(), stderr=io.StringIO())


def test_bootstrap_local_runs_once():
    out = io.StringIO()
    call_command("bootstrap_local", stdout=out)
    assert "admin login" in out.getvalue()
    out = io.StringIO()
    call_command("bootstrap_local", stdout=out)
    assert "nothing to set up" in out.getvalue()


def test_assign_waiting_command_reports():
    op = OperatorFactory(max_load=0)
    link = OperatorSourceFactory(operator=op, source=SourceFactory(name="tg"))
    for i in range(3):
        contact_register(external_id=f"w{i}", source_id=link.source_id)
    Operator.objects.filter(pk=op.pk).update(max_load=2)
    out = io.StringIO()
    call_command("assign_waiting", stdout=out)
    assert "tg: assigned 2, still waiting 1" in out.getvalue()
    assert Contact.objects.filter(operator=op).count() == 2


def test_distribution_report_command():
    link = OperatorSourceFactory(operator=OperatorFactory(name="ivan"), source=SourceFactory(name="tg"), weight=20)
    contact_register(external_id="x", source_id=link.source_id)
    out = io.StringIO()
    call_command("distribution_report", "--since", "24h", stdout=out)
    text = out.getvalue()
    assert "tg" in text and "ivan" in text and "100.0%" in text
    with pytest.raises(CommandError, match="--since"):
        call_command("distribution_report", "--since", "soon", stdout=io.StringIO())


def test_simulate_writes_nothing_and_follows_weights():
    source = SourceFactory(name="tg")
    OperatorSourceFactory(source=source, operator=OperatorFactory(name="a", max_load=10_000), weight=75)
    OperatorSourceFactory(source=source, operator=OperatorFactory(name="b", max_load=100), weight=25)
    out = io.StringIO()
    call_command("simulate", "--source", str(source.pk), "--contacts", "2000", "--seed", "3", stdout=out)
    text = out.getvalue()
    assert Contact.objects.count() == 0 and Operator.objects.get(name="b").open_load == 0
    # b fills up at 100; a takes the rest; nothing waits.
    assert "0→100/100" in text and "Would wait: 0" in text
    with pytest.raises(CommandError):
        call_command("simulate", "--source", "987654", "--contacts", "5", stdout=io.StringIO())


def test_seed_demo_command_is_idempotent():
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    count = Operator.objects.count()
    call_command("seed_demo", stdout=out)
    assert Operator.objects.count() == count > 0
    assert "created 0 operators" in out.getvalue()
