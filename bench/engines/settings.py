"""A bare Django project for the engine comparison: one table, one job, nothing of the CRM,
so that the figures are the engines' own."""

import os
from pathlib import Path

import dj_database_url

HERE = Path(__file__).resolve().parent
SCRATCH = Path(os.environ.get("ENGINES_SCRATCH", "/tmp/minicrm-engines"))
SECRET_KEY = "bench-only"
USE_TZ = True
INSTALLED_APPS = ["django.contrib.contenttypes", "bench.engines"]
ENGINE = os.environ.get("ENGINES_ENGINE", "huey-sqlite")
DB = os.environ.get("ENGINES_DB", "sqlite")
if DB == "pg":
    DATABASES = {
        "default": dj_database_url.parse(
            os.environ.get("BENCH_ENGINES_PG", "postgres://postgres@127.0.0.1:5432/minicrm_bench_engines")
        )
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": SCRATCH / "app.sqlite3",
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
if ENGINE.startswith("huey"):
    INSTALLED_APPS.append("huey.contrib.djhuey")
    if ENGINE == "huey-redis":
        HUEY = {
            "huey_class": "huey.RedisHuey",
            "name": "minicrm-engines-bench",
            "url": "redis://127.0.0.1:6379/0",
            "immediate": False,
        }
    else:
        HUEY = {"huey_class": "huey.SqliteHuey", "filename": str(SCRATCH / "huey.sqlite3"), "immediate": False}
    HUEY["consumer"] = {"workers": 1, "worker_type": "thread", "initial_delay": 0.05, "max_delay": 0.5}
else:
    INSTALLED_APPS.append("django_q")
    Q_CLUSTER = {
        "name": "engines",
        "workers": 1,
        "orm": "default",
        "retry": 20,
        "timeout": 10,
        "poll": 0.05,
        "queue_limit": 50,
        "bulk": 10,
        "ack_failures": True,
        "save_limit": 0,
        "catch_up": False,
    }
