from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle


class ScopedThrottle(ScopedRateThrottle):
    """DRF's per-client scoped throttle (the user's id, or the address of an anonymous
    caller), with counters in the default cache, which all workers share (the database, or
    Redis when REDIS_URL is set). Rates come from settings.REST_FRAMEWORK at each request:
    DRF's own class copies them once at import. A scope whose rate is None is not limited.
    Over the limit: 429 with Retry-After (seconds)."""

    @property
    def THROTTLE_RATES(self):  # noqa: N802 - the name DRF looks up
        return api_settings.DEFAULT_THROTTLE_RATES
