"""What the bench runner does to a database besides sending HTTP: the routing set-up, the
bulk load of history, and the consistency check after a run. Called through the thin
`bench_*` management commands, so every step runs as its own command line (recorded in the
results file)."""

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from crm.models import Contact, Lead, Operator, OperatorSource, Source
from crm.selectors import operator_load_mismatches
from crm.services.accounts import api_token_create, bot_create

# Ten operators as a real team looks: most with room, two small ones that fill up during the
# first seconds (so the capacity rule and the waiting path are exercised under load, and an
# overshoot would show), one inactive.
BENCH_OPERATORS = [
    # name, active, max_load
    ("op01", True, 100_000),
    ("op02", True, 100_000),
    ("op03", True, 100_000),
    ("op04", True, 100_000),
    ("op05", True, 100_000),
    ("op06", True, 100_000),
    ("op07", True, 100_000),
    ("op08", False, 100_000),
    ("op09", True, 40),
    ("op10", True, 15),
]
# Four sources; links overlap (an operator serves several sources), weights differ, one
# link is paused. "whatsapp" has only the small operators and the inactive one: after they
# fill up, its contacts wait (all_at_capacity).
BENCH_WEIGHTS = {
    "telegram": [("op01", 30), ("op02", 20), ("op03", 10), ("op09", 10), ("op10", 10)],
    "web_form": [("op03", 20), ("op04", 20), ("op05", 10), ("op06", 0), ("op08", 10)],
    "instagram": [("op05", 10), ("op06", 30), ("op07", 20), ("op01", 5)],
    "whatsapp": [("op08", 50), ("op09", 30), ("op10", 20)],
}
BULK_PREFIX = "bulk-"


def bench_setup() -> dict:
    """Operators, sources, weights, a bot and a staff user with keys. Returns the ids and
    keys the runner needs. Meant for an empty (freshly migrated) database."""
    with transaction.atomic():
        operators = {
            name: Operator.objects.create(name=name, is_active=active, max_load=cap)
            for name, active, cap in BENCH_OPERATORS
        }
        sources = {name: Source.objects.create(name=name) for name in BENCH_WEIGHTS}
        for source, links in BENCH_WEIGHTS.items():
            for operator, weight in links:
                OperatorSource.objects.create(operator=operators[operator], source=sources[source], weight=weight)
        _, bot_key = bot_create(name="bench_bot")
        get_user_model().objects.create_superuser(username="bench_staff", email="", password=None)
    staff_key = api_token_create(username="bench_staff")
    return {
        "source_ids": [s.pk for s in sources.values()],
        "operators": len(operators),
        "links": OperatorSource.objects.count(),
        "bot_key": bot_key,
        "staff_key": staff_key,
    }


def _link_pairs() -> list[tuple[int, int]]:
    """(source_id, operator_id) of every active, weighted link: the history's assignments."""
    return list(
        OperatorSource.objects.filter(weight__gt=0, operator__is_active=True)
        .order_by("id")
        .values_list("source_id", "operator_id")
    )


def bench_bulk_load(*, contacts: int, contacts_per_lead: int = 2) -> dict:
    """Add closed contacts (and their leads, `contacts_per_lead` contacts each) until the
    table holds at least `contacts` rows. Plain SQL, one statement per table: PostgreSQL
    generates the rows with generate_series, SQLite with a recursive CTE. The contacts are
    closed, so the operators' stored open loads stay equal to their open contacts."""
    have = Contact.objects.count()
    missing = max(0, contacts - have)
    n_leads = -(-missing // contacts_per_lead)  # ceil
    if n_leads == 0:
        return {"contacts": have, "added_contacts": 0, "added_leads": 0}
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    pairs = _link_pairs()
    first_lead_id = (Lead.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
    tag = f"{BULK_PREFIX}{first_lead_id}-"
    if connection.vendor == "postgresql":
        series = "SELECT g AS n FROM generate_series(1, %s) AS g"
    else:
        series = "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < %s) SELECT n FROM s"
    pair_values = ", ".join(f"({i}, {s}, {o})" for i, (s, o) in enumerate(pairs))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO crm_lead (external_id, created_at) SELECT %s || n, %s FROM ({series}) AS seq ORDER BY n",
            [tag, now, n_leads],
        )
        cursor.execute(
            f"""
            INSERT INTO crm_contact
                (lead_id, source_id, operator_id, status, unassigned_reason, assignment, created_at, closed_at)
            SELECT l.id, p.source_id, p.operator_id, 'closed', '', '{{}}', %s, %s
            FROM crm_lead AS l
            CROSS JOIN ({series}) AS k
            JOIN (VALUES {pair_values}) AS p (idx, source_id, operator_id)
              ON p.idx = (l.id * {contacts_per_lead} + k.n) %% {len(pairs)}
            WHERE l.external_id LIKE %s
            ORDER BY l.id, k.n
            LIMIT %s
            """
            if connection.vendor == "postgresql"
            else f"""
            WITH p (idx, source_id, operator_id) AS (VALUES {pair_values})
            INSERT INTO crm_contact
                (lead_id, source_id, operator_id, status, unassigned_reason, assignment, created_at, closed_at)
            SELECT l.id, p.source_id, p.operator_id, 'closed', '', '{{}}', %s, %s
            FROM crm_lead AS l
            CROSS JOIN ({series}) AS k
            JOIN p ON p.idx = (l.id * {contacts_per_lead} + k.n) %% {len(pairs)}
            WHERE l.external_id LIKE %s
            ORDER BY l.id, k.n
            LIMIT %s
            """,
            [now, now, contacts_per_lead, tag + "%", missing],
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {"contacts": Contact.objects.count(), "added_contacts": missing, "added_leads": n_leads}


def bench_snapshot() -> dict:
    """Where the tables stand before a run: the check afterwards looks at newer rows only."""
    last = Contact.objects.order_by("-id").values_list("id", flat=True).first() or 0
    return {"last_contact_id": last, "contacts": Contact.objects.count(), "leads": Lead.objects.count()}


def bench_check(*, after_contact_id: int, sent: int) -> dict:
    """The consistency of the books after a run of `sent` intake requests.

    - every request that reached the server left exactly one contact: created == sent;
    - created == assigned + waiting;
    - no operator holds more open contacts than max_load (a recount, not the stored load);
    - every stored open_load equals the recount (crm.selectors.operator_load_mismatches).
    """
    new = Contact.objects.filter(pk__gt=after_contact_id)
    created = new.count()
    assigned = new.filter(operator__isnull=False).count()
    waiting = new.filter(operator__isnull=True).count()
    reasons = dict(
        new.filter(operator__isnull=True).values_list("unassigned_reason").annotate(n=Count("id")).order_by()
    )
    recount = Operator.objects.annotate(open_now=Count("contacts", filter=Q(contacts__status=Contact.Status.OPEN)))
    overshoot = [(op.name, op.open_now, op.max_load) for op in recount if op.open_now > op.max_load]
    mismatches = operator_load_mismatches()
    return {
        "sent": sent,
        "created": created,
        "assigned": assigned,
        "waiting": waiting,
        "waiting_reasons": reasons,
        "overshoot": overshoot,
        "load_mismatches": mismatches,
        "ok": created == sent and assigned + waiting == created and not overshoot and not mismatches,
    }
