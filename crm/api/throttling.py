"""Per-client rate limits that hold under concurrency.

DRF's SimpleRateThrottle reads a list of timestamps from the cache, edits it and writes it
back: concurrent requests of one client all read the same list, and a bot with 16 connections
got three times its rate through. Here each request makes one atomic step of the generic cell
rate algorithm (GCRA, the leaky bucket as a meter) on one stored number per client and scope,
its "theoretical arrival time" (TAT):

    emission interval T = period / N
    allowed  iff  max(TAT, now) + T <= now + period,   and then TAT := max(TAT, now) + T

A client may send N requests at once (the burst), then N per period on average: in any
interval of length L it gets at most N + N * L / period requests, and never more than N at a
single instant, however many connections it uses. The one step is:

- Redis (when the cache is Redis): a Lua script, atomic in Redis, one round trip;
- otherwise the default database: one `INSERT ... ON CONFLICT DO UPDATE ... WHERE ...
  RETURNING` statement in autocommit (PostgreSQL locks the row for that statement only);
  on SQLite in a transaction of its own that takes the write lock before the clock is read
  (`_gcra_database`). No row returned means refused.

The clock is the application server's (`time.time`, replaceable in tests); servers' clocks
are assumed to agree to well under the emission interval.
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from crm import metrics
from crm.models import ThrottleBucket

REDIS_CACHE_BACKEND = "django.core.cache.backends.redis.RedisCache"
# Seconds per rate unit; settings.env_rate accepts s/sec/second, m/min/minute, h/hour, d/day.
PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

# N additions of T = period / N land a hair above now + period in floating point: compare with
# a slack of a thousandth of an interval, far too little to let one more request through.
SLACK = 0.001

# KEYS[1]: the bucket; ARGV: now, T, period (seconds, floats), SLACK. Returns {allowed, wait}.
GCRA_LUA = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local next_tat = tat + interval
if next_tat > now + period + interval * tonumber(ARGV[4]) then
  return {0, tostring(next_tat - period - now)}
end
redis.call('SET', KEYS[1], tostring(next_tat), 'PX', math.max(1, math.ceil((next_tat - now) * 1000)))
return {1, '0'}
"""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: float  # seconds until one more request would be allowed; 0 when allowed


def _gcra_database(*, key: str, limit: int, period: float, now: float | Callable[[], float]) -> Decision:
    if callable(now) and connection.vendor == "sqlite" and not connection.in_atomic_block:
        # SQLite: the write lock first (BEGIN IMMEDIATE, settings.SQLITE_OPTIONS), then the
        # clock. Read before a wait for the lock, the clock would judge a request at the time
        # it arrived while those served meanwhile had moved the bucket to their later times: at
        # 64 connections a request that waited over a second for the lock was refused by a
        # one-second rate whose bucket was nearly empty.
        with transaction.atomic():
            return _gcra_database_step(key=key, limit=limit, period=period, now=now())
    return _gcra_database_step(key=key, limit=limit, period=period, now=now() if callable(now) else now)


def _gcra_database_step(*, key: str, limit: int, period: float, now: float) -> Decision:
    interval = period / limit
    q = connection.ops.quote_name
    table, key_col, tat_col = q(ThrottleBucket._meta.db_table), q("key"), q("tat")
    # max(TAT, now) spelled as CASE: SQLite's max() and PostgreSQL's GREATEST() differ.
    later = f"(CASE WHEN {table}.{tat_col} > %s THEN {table}.{tat_col} ELSE %s END)"
    sql = (
        f"INSERT INTO {table} ({key_col}, {tat_col}) VALUES (%s, %s) "
        f"ON CONFLICT ({key_col}) DO UPDATE SET {tat_col} = {later} + %s "
        f"WHERE {later} + %s <= %s "
        f"RETURNING {tat_col}"
    )
    params = [key, now + interval, now, now, interval, now, now, interval, now + period + interval * SLACK]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        allowed = cursor.fetchone() is not None
    # Refused: the bucket's TAT lies within one interval past now + period - interval (only
    # an allowed request moves it, and never beyond now + period), so one interval is an upper
    # bound of the wait and spares a second statement.
    return Decision(True, 0.0) if allowed else Decision(False, interval)


_redis_script = None


def _gcra_redis(*, key: str, limit: int, period: float, now: float | Callable[[], float]) -> Decision:
    global _redis_script
    now = now() if callable(now) else now
    # Django's Redis cache hands out a client on its connection pool; the script object runs
    # EVALSHA on whichever client it is given and loads the script once per server.
    client = cache._cache.get_client(key, write=True)
    if _redis_script is None:
        _redis_script = client.register_script(GCRA_LUA)
    allowed, wait = _redis_script(
        keys=[cache.make_key(f"throttle:{key}")], args=[now, period / limit, period, SLACK], client=client
    )
    return Decision(bool(int(allowed)), float(wait))


def rate_limit_hit(*, key: str, limit: int, period: float, now: float | Callable[[], float]) -> Decision:
    """Count one request of `key` against `limit` per `period` seconds, atomically. `now` is
    the time, or a clock to read it from when the bucket can be stepped (on SQLite, once its
    write lock is taken)."""
    if settings.CACHES["default"]["BACKEND"] == REDIS_CACHE_BACKEND:
        return _gcra_redis(key=key, limit=limit, period=period, now=now)
    return _gcra_database(key=key, limit=limit, period=period, now=now)


class ScopedThrottle(BaseThrottle):
    """Per client (the user's id, or the address of an anonymous caller) and per scope (the
    view's `throttle_scope`: "intake" for registering contacts, "api" for the rest), with the
    rates of settings.REST_FRAMEWORK read at each request. A scope whose rate is None is not
    limited. Over the limit: 429 with Retry-After (seconds, rounded up)."""

    timer = staticmethod(time.time)

    def allow_request(self, request, view):
        scope = getattr(view, "throttle_scope", None)
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(scope) if scope else None
        if rate is None:
            return True
        count, unit = rate.split("/")
        limit, period = int(count), PERIODS[unit[0]]
        user = request.user
        # An anonymous caller by its address, never by X-Forwarded-For, which it writes itself.
        ident = (
            f"user-{user.pk}" if user and user.is_authenticated else f"addr-{request.META.get('REMOTE_ADDR', '')[:64]}"
        )
        decision = rate_limit_hit(key=f"{scope}:{ident}", limit=limit, period=period, now=self.timer)
        self.retry_after = decision.retry_after
        if not decision.allowed:
            metrics.throttled(scope)
        return decision.allowed

    def wait(self):
        return max(1, math.ceil(self.retry_after))
