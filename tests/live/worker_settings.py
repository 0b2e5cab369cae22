"""Settings of a real task worker started by a test (tests/live/test_worker_crash.py): the
test settings with huey's consumer for real, plus the test's hooks (tests.live.apps)."""

from minicrm_project.settings.test import *  # noqa: F403
from minicrm_project.settings.test import HUEY, INSTALLED_APPS

HUEY = {**HUEY, "immediate": False}
INSTALLED_APPS = [*INSTALLED_APPS, "tests.live.apps.WorkerHooksConfig"]
