"""The README's curl walkthrough, run as written against a server set up the way `make run` sets
one up (the first-run demo and credentials, gunicorn, the local settings), so that README and
product cannot drift apart."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from crm.models import Contact
from crm.services.demo import local_first_run
from tests.invariants import assert_routing_invariants
from tests.live.server import ROOT, gunicorn_server

README = ROOT / "README.md"
# The block after the comment that names this file; whatever it says is run.
WALKTHROUGH = re.compile(r"<!--[^>]*tests/live/test_readme\.py[^>]*-->\s*```(?:bash|sh)\n(.*?)\n```", re.S)
# Any HTTP error fails the walkthrough, whether or not the README's calls say --fail.
PRELUDE = 'set -euo pipefail\ncurl() { command curl --fail-with-body --show-error "$@"; }\n'


def walkthrough() -> str:
    found = WALKTHROUGH.findall(README.read_text())
    assert len(found) == 1, "the README must hold exactly one block marked for tests/live/test_readme.py"
    return found[0]


@pytest.mark.django_db(transaction=True)
def test_readme_walkthrough_runs_as_written_on_a_fresh_make_run(tmp_path: Path):
    for tool in ("bash", "curl", "python3"):
        assert shutil.which(tool), f"the README's walkthrough needs {tool}"
    first_run = local_first_run()  # what `make run` does on a fresh database
    assert first_run is not None
    local = {"DJANGO_SETTINGS_MODULE": "minicrm_project.settings.local"}
    with gunicorn_server(tmp_path=tmp_path, extra_env=local) as server:
        # Not the default port: the walkthrough must follow $PORT.
        env = {**os.environ, "ADMIN": first_run["admin_key"], "BOT": first_run["bot_key"], "PORT": str(server.port)}
        result = subprocess.run(
            ["bash", "-c", PRELUDE + walkthrough()], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, (
            f"the README's walkthrough failed (exit {result.returncode})\n--- stdout\n{result.stdout}\n"
            f"--- stderr\n{result.stderr}\n--- server log\n{server.log()[-3000:]}"
        )
    assert Contact.objects.exists()
    assert_routing_invariants()


def test_readme_runs_manage_py_with_the_projects_python():
    """A fresh clone has Django only in .venv: a bare `python manage.py` fails there."""
    bare = [line for line in README.read_text().splitlines() if re.search(r"(?<![/\w.])python3? manage\.py", line)]
    assert bare == []
