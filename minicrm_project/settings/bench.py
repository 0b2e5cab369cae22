"""Benchmarks (`make bench`): the base settings as production runs them (DEBUG off, the same
middleware, authentication and database options), plus the bench-only app with the baseline
endpoint and the bench's management commands. Never use it for anything but `bench/`."""

from .base import *  # noqa: F403
from .base import INSTALLED_APPS, REST_FRAMEWORK, env_rate

DEBUG = False
INSTALLED_APPS = [*INSTALLED_APPS, "bench"]
# The normal URLs plus POST /bench/baseline/ (authenticate, parse, one INSERT).
ROOT_URLCONF = "bench.urls"
# No collectstatic in a benchmark; WhiteNoise serves nothing we measure.
WHITENOISE_USE_FINDERS = True
# The benchmark drives one bot far past any abuse limit: throttling off unless the run sets
# THROTTLE_*_RATE itself (then it measures the throttle's cost too).
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {
        "intake": env_rate("THROTTLE_INTAKE_RATE", "off"),
        "api": env_rate("THROTTLE_API_RATE", "off"),
    },
}
