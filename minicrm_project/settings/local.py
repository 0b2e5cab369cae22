"""`make run` and `manage.py` on a developer's machine: the base settings with DEBUG off, as
the product is served (JSON 404s under /api/, no tracebacks, no URL list), and static files
served straight from the apps' folders, so no collectstatic step is needed. DEBUG is an
explicit opt-in: DJANGO_DEBUG=true."""

import warnings

from .base import *  # noqa: F403
from .base import env_bool

DEBUG = env_bool("DJANGO_DEBUG", False)
# WhiteNoise indexes the files the staticfiles finders see (admin, Swagger UI) at start-up.
WHITENOISE_USE_FINDERS = True
# Re-scan on every request only while developing with DEBUG: it costs a stat() per request.
WHITENOISE_AUTOREFRESH = DEBUG
# Without collectstatic there is no STATIC_ROOT folder, which WhiteNoise would warn about at
# every start; the finders serve the files.
warnings.filterwarnings("ignore", message="No directory at")
