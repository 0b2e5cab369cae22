"""The architecture page names files: each of them exists, so the page cannot silently drift
from the tree it describes."""

import re
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
# Paths from the project's root (a bare module name after one is relative to it: not checked).
PATH = re.compile(
    r"`((?:crm|minicrm_project|tests|bench|templates|docs|locale)/[\w./-]*|gunicorn\.conf\.py|manage\.py)`"
)


def test_every_file_the_architecture_page_names_exists():
    text = (ROOT / "docs" / "architecture.md").read_text()
    named = {match.rstrip("/") for match in PATH.findall(text)}
    assert named, "the pattern found no path: has the page's style changed?"
    missing = sorted(path for path in named if not (ROOT / path).exists())
    assert missing == []
