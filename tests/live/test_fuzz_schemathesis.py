"""Schemathesis against a live gunicorn, on our generated OpenAPI schema: with a staff key
(all operations, all checks) and with an operator's key (the operations an operator calls:
/me/, /me/contacts/, /me/availability/, a contact's close, transfer and timeline). Zero
server errors and zero schema violations, or this fails with schemathesis' report. Marked
`fuzz`: CI runs it as its own step (a few minutes)."""

import os
import subprocess
import sys

import pytest
from django.contrib.auth.models import Permission
from knox.models import AuthToken

from crm.services.accounts import bot_create, operator_login_create
from crm.services.demo import demo_seed
from tests.factories import UserFactory
from tests.live.server import ROOT, gunicorn_server

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db(transaction=True)]

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "40"))
MAX_TIME = int(os.environ.get("FUZZ_MAX_TIME", "150"))


OPERATOR_PATHS = r"^/api/v1/(me/|contacts/\{id\}/(close|transfer|events)/)"


@pytest.mark.parametrize("role", ["staff", "operator"])
def test_schemathesis_finds_no_server_error_and_no_schema_violation(tmp_path, role):
    demo_seed()
    bot_create(name="fuzz_bot")
    if role == "staff":
        user = UserFactory(username="fuzz_staff", is_staff=True)
        user.user_permissions.set(Permission.objects.filter(content_type__app_label="crm"))
        scope = []
    else:
        from crm.models import Operator

        operator = Operator.objects.get(name="ivan")
        user, _ = operator_login_create(operator_id=operator.pk, username="fuzz_operator")
        scope = ["--include-path-regex", OPERATOR_PATHS]
    _, key = AuthToken.objects.create(user=user, expiry=None)
    report = tmp_path / "report"
    with gunicorn_server(tmp_path=tmp_path, workers=2) as server:
        result = subprocess.run(
            [
                os.path.join(os.path.dirname(sys.executable), "st"),
                "run",
                f"{server.url}/api/schema/",
                *scope,
                "--checks",
                "all",
                "--header",
                f"Authorization: Token {key}",
                "--max-examples",
                str(MAX_EXAMPLES),
                "--max-time",
                str(MAX_TIME),
                "--seed",
                "20261126",
                "--workers",
                "1",
                "--request-timeout",
                "20",
                "--no-color",
                "--report",
                "junit",
                "--report-dir",
                str(report),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=MAX_TIME + 300,
        )
        server_log = server.log()
    print(result.stdout[-20000:])
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    assert "Traceback" not in server_log, server_log[-5000:]
