"""A small demo configuration, and the first-run set-up of a local instance."""

import secrets

from django.contrib.auth import get_user_model
from django.db import transaction

from crm.models import Operator, OperatorSource, Source
from crm.services.accounts import api_token_create, bot_create

DEMO_OPERATORS = [("ivan", True, 10), ("maria", True, 5), ("oleg", True, 3), ("anna", False, 8)]
DEMO_SOURCES = ["telegram_bot_A", "whatsapp_main", "site_form"]
DEMO_WEIGHTS = [
    ("ivan", "telegram_bot_A", 20),
    ("maria", "telegram_bot_A", 10),
    ("oleg", "telegram_bot_A", 10),
    ("maria", "whatsapp_main", 30),
    ("anna", "whatsapp_main", 10),
    ("ivan", "site_form", 10),
    ("oleg", "site_form", 0),
]


def demo_seed() -> dict[str, int]:
    """Create the demo operators, sources and weights that are missing; never changes or
    removes what exists, so running it twice is harmless. Returns counts of rows created."""
    created = {"operators": 0, "sources": 0, "weights": 0}
    with transaction.atomic():
        operators = {}
        for name, is_active, max_load in DEMO_OPERATORS:
            operators[name], new = Operator.objects.get_or_create(
                name=name, defaults={"is_active": is_active, "max_load": max_load}
            )
            created["operators"] += new
        sources = {}
        for name in DEMO_SOURCES:
            sources[name], new = Source.objects.get_or_create(name=name)
            created["sources"] += new
        for operator, source, weight in DEMO_WEIGHTS:
            _, new = OperatorSource.objects.get_or_create(
                operator=operators[operator], source=sources[source], defaults={"weight": weight}
            )
            created["weights"] += new
    return created


def local_first_run(*, admin_username: str = "admin", bot_name: str = "demo_bot") -> dict | None:
    """On a database with no users yet: the demo data, a superuser with a random password
    and a bot, returned once so they can be printed. None when users already exist."""
    User = get_user_model()
    if User.objects.exists():
        return None
    created = demo_seed()
    password = secrets.token_urlsafe(12)
    User.objects.create_superuser(username=admin_username, password=password, email="")
    admin_key = api_token_create(username=admin_username)
    _, bot_key = bot_create(name=bot_name)
    return {
        "demo": created,
        "admin_username": admin_username,
        "admin_password": password,
        "admin_key": admin_key,
        "bot_name": bot_name,
        "bot_key": bot_key,
    }
