"""Settings shared by every environment. Configuration comes from the environment
(see `.env.example`); defaults are safe for a developer's machine."""

import os
import re
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name, "")
    items = [item.strip() for item in value.split(",") if item.strip()]
    return items or default


def env_rate(name: str, default: str) -> str | None:
    """A DRF throttle rate ("100/min", "5/s", ...); "off" disables the limit."""
    value = os.environ.get(name, "").strip() or default
    if value.lower() in {"off", "none"}:
        return None
    if not re.fullmatch(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)", value):
        raise ImproperlyConfigured(f'{name} must look like "100/min" (per s, min, hour or day) or be "off".')
    return value


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "insecure-local-development-key-change-me-0123456789abcdef")
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])

INSTALLED_APPS = [
    "minicrm_project.apps.AdminConfig",  # django.contrib.admin with the project's site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    # Trigram indexes on PostgreSQL (lead search); harmless on SQLite.
    "django.contrib.postgres",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "huey.contrib.djhuey",
    "crm",
]

MIDDLEWARE = [
    # First: request latency for Prometheus covers everything Django does.
    "crm.metrics_middleware.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # Before anything reads request.GET or the body (and after the language is chosen, so its
    # 415 speaks the client's language).
    "crm.middleware.RequestCharsetMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "minicrm_project.urls"
WSGI_APPLICATION = "minicrm_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# Embedded SQLite by default; PostgreSQL (or anything dj-database-url understands) when
# DATABASE_URL is set.
SQLITE_PATH = Path(os.environ.get("SQLITE_PATH", BASE_DIR / "db.sqlite3"))

SQLITE_OPTIONS = {
    # IMMEDIATE makes every transaction take SQLite's write lock at BEGIN. SQLite ignores
    # SELECT ... FOR UPDATE, so this is what serialises the assignment's read-then-write:
    # two intakes can never both read "operator has room" before either writes.
    "transaction_mode": "IMMEDIATE",
    # Seconds a writer waits for the lock before "database is locked".
    "timeout": 30,
    # WAL lets readers run while one writer writes; NORMAL sync is durable in WAL mode
    # except for the last transactions on power loss (not on a process crash).
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}


POOLERS = ("", "pgbouncer")


# psycopg 3 prepares a statement on the server after this many executions on one connection
# and then sends only its name and parameters: PostgreSQL parses and plans it once.
PREPARE_THRESHOLD = 5


def postgres_tuned(config: dict, pooler: str) -> dict:
    """The PostgreSQL connection options, by what stands between Django and the server.

    Straight to PostgreSQL (DATABASE_POOLER unset): server-side binding and prepared
    statements. Django's default binds parameters on the client and sends every statement
    as new text, which PostgreSQL parses and plans each time; prepared after PREPARE_THRESHOLD
    runs, the intake's statements cost the database about half the CPU (docs/performance.md,
    "Third pass"). A DATABASE_URL that sets `server_side_binding` or
    `prepare_threshold` itself is taken as it is.

    Behind a transaction-pooling PgBouncer (DATABASE_POOLER=pgbouncer), consecutive
    transactions of one Django connection may run on different server connections, so
    nothing may outlive a transaction on the server:
    - no server-side cursors: `QuerySet.iterator()` would DECLARE a cursor WITH HOLD in
      autocommit and FETCH it in later transactions, on a server connection that may not
      have it;
    - no server-side prepared statements: psycopg reuses a prepared statement by name, and
      PgBouncer before 1.21 does not track them ("prepared statement _pg3_0 already exists");
      client-side binding, as Django's default, and asking for either through the URL is
      refused.
    Session state otherwise: the only SET Django sends is the time zone, a parameter PgBouncer
    tracks and restores per client; minicrm's advisory locks and row locks are
    transaction-scoped, and it uses no LISTEN or temporary tables."""
    if pooler not in POOLERS:
        raise ImproperlyConfigured(f"DATABASE_POOLER must be one of {', '.join(repr(p) for p in POOLERS)}.")
    if config["ENGINE"] != "django.db.backends.postgresql":
        return config
    options = config.setdefault("OPTIONS", {})
    if pooler != "pgbouncer":
        # A URL's query gives strings: "?server_side_binding=false&prepare_threshold=None".
        binding = options.get("server_side_binding", True)
        options["server_side_binding"] = binding is True or str(binding).lower() in ("1", "true", "yes", "on")
        threshold = options.get("prepare_threshold", PREPARE_THRESHOLD)
        options["prepare_threshold"] = None if str(threshold) in ("", "None") else int(threshold)
        return config
    if options.get("server_side_binding") or options.get("prepare_threshold") not in (None, "", "None"):
        raise ImproperlyConfigured(
            "DATABASE_POOLER=pgbouncer: server-side binding and prepared statements do not survive "
            "transaction pooling; remove server_side_binding / prepare_threshold from DATABASE_URL."
        )
    options["prepare_threshold"] = None
    config["DISABLE_SERVER_SIDE_CURSORS"] = True
    return config


def database_from_env() -> dict:
    url = os.environ.get("DATABASE_URL", "").strip()
    if url:
        config = dj_database_url.parse(url, conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")))
        config["CONN_HEALTH_CHECKS"] = True
        if config["ENGINE"] == "django.db.backends.sqlite3":
            config.setdefault("OPTIONS", {}).update(SQLITE_OPTIONS)
        return postgres_tuned(config, os.environ.get("DATABASE_POOLER", "").strip().lower())
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": SQLITE_PATH,
        "OPTIONS": dict(SQLITE_OPTIONS),
    }


DATABASES = {"default": database_from_env()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache: throttle counters, shared by every worker and server ---------------------------
# The database by default (the table comes from `manage.py createcachetable`, which
# `make run`, CI and the test set-up run); Redis when REDIS_URL is set.
CACHE_TABLE = "crm_cache"


def cache_from_env() -> dict:
    redis_url = os.environ.get("REDIS_URL", "").strip()
    if redis_url:
        return {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "minicrm"),
        }
    return {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": CACHE_TABLE,
        "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "minicrm"),
    }


CACHES = {"default": cache_from_env()}

# --- Background work: huey (README, "Background work") ---------------------------------------
# Redis when TASKS_REDIS_URL (or REDIS_URL) is set: any number of workers on any number of
# machines. Otherwise a SQLite file of its own beside the database: no extra service, one
# machine, and the queue never takes the application database's write lock.
TASKS_SQLITE_PATH = Path(os.environ.get("TASKS_SQLITE_PATH", "") or BASE_DIR / "tasks.sqlite3")
# Contacts one drain batch assigns in one transaction: the bound on how long a batch holds
# its source's operator locks.
QUEUE_DRAIN_BATCH = int(os.environ.get("QUEUE_DRAIN_BATCH", "100"))
# The worker's heartbeat (a periodic task, every minute) is older than this: not alive.
TASKS_WORKER_STALE_AFTER = timedelta(seconds=int(os.environ.get("TASKS_WORKER_STALE_AFTER_SECONDS", "150")))


def huey_from_env() -> dict:
    redis_url = (os.environ.get("TASKS_REDIS_URL", "") or os.environ.get("REDIS_URL", "")).strip()
    config = {
        "name": os.environ.get("TASKS_QUEUE_NAME", "minicrm"),
        # Tests run tasks in-process, at enqueue time (settings.test).
        "immediate": env_bool("TASKS_IMMEDIATE", False),
        # Results are not read by anyone: no result rows to purge.
        "results": False,
        "utc": True,
        "consumer": {
            "workers": int(os.environ.get("TASKS_WORKERS", "2")),
            "worker_type": "thread",
            # How soon an idle worker looks again (seconds, doubling up to max_delay).
            "initial_delay": 0.1,
            "backoff": 1.5,
            "max_delay": 2.0,
        },
    }
    if redis_url:
        config.update(huey_class="huey.RedisHuey", url=redis_url)
    else:
        config.update(huey_class="huey.SqliteHuey", filename=str(TASKS_SQLITE_PATH))
    return config


HUEY = huey_from_env()

# Request bodies: the API's JSON parser and Django's forms refuse more than this (413/400).
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("DJANGO_MAX_BODY_BYTES", "65536"))

# Idempotency keys are kept at least this long (`manage.py purge_idempotency_keys`).
IDEMPOTENCY_KEY_TTL = timedelta(hours=max(24, int(os.environ.get("IDEMPOTENCY_KEY_TTL_HOURS", "24"))))
# An operator with a login and no activity (workspace page, API call) for this long counts as
# away for routing. Minutes.
OPERATOR_AWAY_AFTER = timedelta(minutes=max(1, int(os.environ.get("OPERATOR_AWAY_AFTER_MINUTES", "30"))))

# Leads' phones are stored as E.164 (+79123456789). A number sent without its country code is
# read as a national number of this region (ISO 3166 code, e.g. RU, GB, US); empty: refused.
PHONE_DEFAULT_REGION = os.environ.get("PHONE_DEFAULT_REGION", "").strip().upper()
if PHONE_DEFAULT_REGION:
    import phonenumbers

    if PHONE_DEFAULT_REGION not in phonenumbers.SUPPORTED_REGIONS:
        raise ImproperlyConfigured(f"PHONE_DEFAULT_REGION={PHONE_DEFAULT_REGION!r} is not a known region code.")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Language -------------------------------------------------------------------------------
LANGUAGE_CODE = os.environ.get("DJANGO_LANGUAGE_CODE", "en")
LANGUAGES = [("en", "English"), ("ru", "Русский")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("DJANGO_TIME_ZONE", "UTC")
# Our corrections to Django's formats for a language (minicrm_project/formats/<lang>/formats.py).
FORMAT_MODULE_PATH = ["minicrm_project.formats"]
USE_I18N = True
USE_TZ = True

# --- Static files (admin, Swagger UI) are served by WhiteNoise: no CDN, no extra server. ----
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- API --------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # knox first: its WWW-Authenticate header turns "no credentials" into a 401, not a 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "crm.api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["crm.api.parsers.BoundedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "crm.api.pagination.IdCursorPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "crm.api.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "crm.api.schema.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Per client (user id): "intake" for registering contacts, "api" for everything else.
    "DEFAULT_THROTTLE_CLASSES": ["crm.api.throttling.ScopedThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "intake": env_rate("THROTTLE_INTAKE_RATE", "1200/min"),
        "api": env_rate("THROTTLE_API_RATE", "600/min"),
    },
}

REST_KNOX = {
    # Bots and scripts keep their key until it is revoked; no expiry by default.
    "TOKEN_TTL": None,
    "AUTH_HEADER_PREFIX": "Token",
    # No write on every request just to push an expiry forward.
    "AUTO_REFRESH": False,
}

# Resource groups of /docs, in order (crm.api.docs, kept free of imports beyond DRF's).
API_TAGS = [
    ("contacts", "Register contacts (bots) and work them (staff; operators their own): read, close, transfer."),
    ("me", "An operator's own workspace: who he is, his availability, his contacts."),
    ("leads", "End clients, one per normalised external id, with their contacts."),
    ("operators", "Who works contacts: active or not, and how many open contacts each may hold."),
    ("sources", "The bots and channels contacts come through, and how each one chooses operators."),
    ("weights", "Which operators serve which source, and with what weight (the share of contacts)."),
    ("statistics", "Configured against actual routing, loads and the waiting queue."),
    ("webhooks", "Endpoints that other systems register to be told of events, signed (Standard Webhooks)."),
]

SPECTACULAR_SETTINGS = {
    "TITLE": "minicrm API",
    "DESCRIPTION": (
        "Routes incoming contacts from bots and channels (sources) to operators by per-source "
        "weights and per-operator capacity.\n\n"
        "**Authentication.** `Authorization: Token <key>`, a key from `manage.py create_bot` (bots: "
        "register contacts, read back their own) or `manage.py create_api_token` (staff: what their "
        "model permissions allow). In this page, staff signed in to the admin are authenticated by "
        "their session.\n\n"
        "**Input is strict.** Request bodies take exactly the fields documented, with JSON types as "
        "documented; a query parameter may be given once, not empty, and only where documented. "
        "Anything else is a 400 whose body names each field or parameter at fault; nothing is "
        "written.\n\n"
        "**Answers.** Lists are cursor-paginated (follow `next`). A write answers with the object, or "
        'with `{"id": N}` only when the caller may change but not read it. Errors share one shape '
        "(see `Error`). Registering a contact accepts an `Idempotency-Key` for safe retries."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "TAGS": [{"name": name, "description": text} for name, text in API_TAGS],
    "ENUM_NAME_OVERRIDES": {
        "ContactStatusEnum": "crm.models.ContactStatus",
        "UnassignedReasonEnum": "crm.models.UnassignedReason",
        "SourceStrategyEnum": "crm.models.SourceStrategy",
        "DecisionStrategyEnum": "crm.models.DecisionStrategy",
        "ViaEnum": "crm.models.AssignmentVia",
        "AffinityEnum": "crm.models.AffinityOutcome",
        "ExcludedEnum": "crm.models.Exclusion",
        "AvailabilityEnum": "crm.models.OperatorAvailability",
        "EventTypeEnum": "crm.models.EventType",
        "ActorKindEnum": "crm.models.ActorKind",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
    # SQL with its parameters (names, phones, messages) is never logged, even at DEBUG.
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# --- Outgoing webhooks ------------------------------------------------------------------------
# Receivers on loopback, private, link-local (cloud metadata) or reserved addresses are refused
# at registration and at every delivery, unless this is on (local set-ups, the tests).
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env_bool("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", False)
WEBHOOK_CONNECT_TIMEOUT = float(os.environ.get("WEBHOOK_CONNECT_TIMEOUT", "5"))
WEBHOOK_READ_TIMEOUT = float(os.environ.get("WEBHOOK_READ_TIMEOUT", "10"))
# Bytes of a receiver's response that are read (and kept, cut to 1024 characters).
WEBHOOK_RESPONSE_MAX_BYTES = 4096
# Retries: exponential backoff from BACKOFF_BASE, doubling up to BACKOFF_MAX between attempts,
# each wait jittered down by up to half; a delivery still failing RETRY_HORIZON after it was
# created is marked failed.
WEBHOOK_BACKOFF_BASE = timedelta(seconds=int(os.environ.get("WEBHOOK_BACKOFF_BASE_SECONDS", "10")))
WEBHOOK_BACKOFF_MAX = timedelta(seconds=int(os.environ.get("WEBHOOK_BACKOFF_MAX_SECONDS", "3600")))
WEBHOOK_RETRY_HORIZON = timedelta(hours=int(os.environ.get("WEBHOOK_RETRY_HORIZON_HOURS", "24")))
# How long a claimed delivery is reserved for its worker; a worker that died holding it is
# replaced after this. Default: a whole batch timing out, plus a minute.
WEBHOOK_DELIVERY_LEASE = (
    timedelta(seconds=float(os.environ["WEBHOOK_DELIVERY_LEASE_SECONDS"]))
    if os.environ.get("WEBHOOK_DELIVERY_LEASE_SECONDS")
    else None
)
# After "rotate secret", the previous secret still signs for this long.
WEBHOOK_SECRET_GRACE = timedelta(hours=int(os.environ.get("WEBHOOK_SECRET_GRACE_HOURS", "24")))
# The webhook tasks (crm.tasks.webhooks_tick): each works this many seconds at most, plus one
# delivery attempt, then hands its worker thread back; with nothing to do, the next one looks
# again after WEBHOOK_POLL_SECONDS.
WEBHOOK_TICK_SECONDS = float(os.environ.get("WEBHOOK_TICK_SECONDS", "1"))
WEBHOOK_POLL_SECONDS = float(os.environ.get("WEBHOOK_POLL_SECONDS", "1"))
# /healthz/webhooks answers 503 when an event has waited longer than this to be fanned out.
WEBHOOK_DISPATCH_ALERT = timedelta(seconds=int(os.environ.get("WEBHOOK_DISPATCH_ALERT_SECONDS", "300")))
# GET /metrics (Prometheus): staff keys may scrape; so may these client addresses, without a
# key (e.g. the Prometheus server's). Comma-separated; empty: keys only.
METRICS_ALLOWED_ADDRESSES = env_list("METRICS_ALLOWED_ADDRESSES", [])
