"""The job every engine runs: one INSERT into the app's database (a drain batch in miniature)."""

import time
from pathlib import Path

from django.conf import settings
from django.db import connection


def done(n: int, sleep: float = 0.0) -> None:
    if sleep:
        (Path(settings.SCRATCH) / f"started-{n}").touch()
        time.sleep(sleep)
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO engines_done (n) VALUES (%s)", [n])


if settings.ENGINE.startswith("huey"):
    from huey.contrib.djhuey import task

    done_task = task()(done)
