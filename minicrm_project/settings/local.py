"""Developer machine and `make run`: the base settings, with DEBUG on unless told otherwise."""

from .base import *  # noqa: F403
from .base import env_bool

DEBUG = env_bool("DJANGO_DEBUG", True)
# Serve static files straight from the apps' folders: `make run` needs no collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True  # development: no collectstatic, no STATIC_ROOT needed
