"""Schemathesis against a live gunicorn, on our generated OpenAPI schema, with a staff key:
all operations, all checks. Zero server errors and zero schema violations, or this fails
with schemathesis' report. Marked `fuzz`: CI runs it as its own step (a few minutes)."""

import os
import subprocess
import sys

import pytest
from django.contrib.auth.models import Permission
from knox.models import AuthToken

from crm.services.accounts import bot_create
from crm.services.demo import demo_seed
from tests.factories import UserFactory
from tests.live.server import ROOT, gunicorn_server

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db(transaction=True)]

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "40"))
MAX_TIME = int(os.environ.get("FUZZ_MAX_TIME", "150"))


def test_schemathesis_finds_no_server_error_and_no_schema_violation(tmp_path):
    demo_seed()
    bot_create(name="fuzz_bot")
    staff = UserFactory(username="fuzz_staff", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label="crm"))
    _, key = AuthToken.objects.create(user=staff, expiry=None)
    report = tmp_path / "report"
    with gunicorn_server(tmp_path=tmp_path, workers=2) as server:
        result = subprocess.run(
            [
                os.path.join(os.path.dirname(sys.executable), "st"),
                "run",
                f"{server.url}/api/schema/",
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
