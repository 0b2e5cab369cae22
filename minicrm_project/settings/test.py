"""pytest settings. The SQLite test database is a file, not the shared in-memory one, so that
the concurrency tests' threads each get a real connection of their own."""

from .base import *  # noqa: F403
from .base import BASE_DIR, DATABASES, HUEY, REST_FRAMEWORK

DEBUG = False
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True  # development: no collectstatic, no STATIC_ROOT needed
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Throttling off, so that no test is refused for the suite's own pace (and hot-path query
# counts stay what the code costs). tests/api/test_throttling.py turns it on with real rates.
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"intake": None, "api": None}}

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / ".pytest-db.sqlite3")}

# Tasks run in-process when they are enqueued (after the commit that enqueues them: tests
# use django_capture_on_commit_callbacks). The real worker is tested apart, in a subprocess.
HUEY = {**HUEY, "immediate": True}
