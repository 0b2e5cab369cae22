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
HOT_SOURCE = "hot_channel"
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
    ("op11", True, 100_000),
    ("op12", True, 100_000),
    ("op13", True, 100_000),
]
# Five sources; links overlap (an operator serves several sources), weights differ, one
# link is paused. "whatsapp" has only the small operators and the inactive one: after they
# fill up, its contacts wait (all_at_capacity).
BENCH_WEIGHTS = {
    "telegram": [("op01", 30), ("op02", 20), ("op03", 10), ("op09", 10), ("op10", 10)],
    "web_form": [("op03", 20), ("op04", 20), ("op05", 10), ("op06", 0), ("op08", 10)],
    "instagram": [("op05", 10), ("op06", 30), ("op07", 20), ("op01", 5)],
    "whatsapp": [("op08", 50), ("op09", 30), ("op10", 20)],
    # The headline's source (performance round two): one busy channel, ten operators who all
    # have room.
    HOT_SOURCE: [(f"op{n:02d}", 10) for n in (1, 2, 3, 4, 5, 6, 7, 11, 12, 13)],
}
BULK_PREFIX = "bulk-"
# Leads' profiles for the bulk load: names from common first and last names, phones and the
# number in an email spread by a multiplicative hash of the lead's number, so the trigram
# indexes see the letter and digit frequencies of real data (a synthetic "user123@" on every
# row would make every search read a posting list of the whole table).
FIRST_NAMES = [
    "Anna",
    "Maria",
    "Olga",
    "Elena",
    "Irina",
    "Natalia",
    "Svetlana",
    "Tatiana",
    "Yulia",
    "Daria",
    "Ekaterina",
    "Ksenia",
    "Polina",
    "Sofia",
    "Alina",
    "Victoria",
    "Ivan",
    "Alexei",
    "Dmitry",
    "Sergey",
    "Andrei",
    "Mikhail",
    "Nikolai",
    "Pavel",
    "Roman",
    "Oleg",
    "Artem",
    "Maxim",
    "Igor",
    "Boris",
    "Denis",
    "Egor",
    "Fedor",
    "Gleb",
    "Kirill",
    "Lev",
    "Mark",
    "Nikita",
    "Timur",
    "Yaroslav",
    "John",
    "Emma",
    "Liam",
    "Olivia",
    "Noah",
    "Sophie",
    "Lucas",
    "Mia",
    "Leon",
    "Clara",
]
LAST_NAMES = [
    "Ivanov",
    "Smirnov",
    "Kuznetsov",
    "Popov",
    "Vasiliev",
    "Petrov",
    "Sokolov",
    "Mikhailov",
    "Novikov",
    "Fedorov",
    "Morozov",
    "Volkov",
    "Alekseev",
    "Lebedev",
    "Semenov",
    "Egorov",
    "Pavlov",
    "Kozlov",
    "Stepanov",
    "Nikolaev",
    "Orlov",
    "Andreev",
    "Makarov",
    "Nikitin",
    "Zakharov",
    "Zaitsev",
    "Soloviev",
    "Borisov",
    "Yakovlev",
    "Grigoriev",
    "Romanov",
    "Vorobiev",
    "Sergeev",
    "Kuzmin",
    "Frolov",
    "Alexandrov",
    "Dmitriev",
    "Korolev",
    "Gusev",
    "Kiselev",
    "Ilyin",
    "Maximov",
    "Polyakov",
    "Sorokin",
    "Vinogradov",
    "Kovalev",
    "Belov",
    "Medvedev",
    "Antonov",
    "Tarasov",
    "Zhukov",
    "Baranov",
    "Filippov",
    "Komarov",
    "Davydov",
    "Belyaev",
    "Gerasimov",
    "Bogdanov",
    "Osipov",
    "Sidorov",
    "Matveev",
    "Titov",
    "Markov",
    "Mironov",
    "Krylov",
    "Kulikov",
    "Karpov",
    "Vlasov",
    "Melnikov",
    "Denisov",
    "Gavrilov",
    "Tikhonov",
    "Kazakov",
    "Afanasiev",
    "Danilov",
    "Savelyev",
    "Timofeev",
    "Fomin",
    "Chernov",
    "Abramov",
    "Martynov",
    "Efimov",
    "Fedotov",
    "Shcherbakov",
    "Nazarov",
    "Kalinin",
    "Isaev",
    "Chernyshev",
    "Bykov",
    "Smith",
    "Jones",
    "Brown",
    "Miller",
    "Wilson",
    "Taylor",
    "Clark",
    "Walker",
    "Wright",
    "Hall",
]
DOMAINS = ["gmail.com", "mail.ru", "yandex.ru", "outlook.com", "example.org"]


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
        "hot_source_id": sources[HOT_SOURCE].pk,
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
        cursor.execute(*_lead_insert(series=series, tag=tag, now=now, n_leads=n_leads, first=first_lead_id))
        cursor.execute(
            f"""
            INSERT INTO crm_contact
                (lead_id, source_id, operator_id, status, unassigned_reason, assignment, message, metadata,
                 created_at, closed_at)
            SELECT l.id, p.source_id, p.operator_id, 'closed', '', '{{}}', 'Hello!', '{{}}', %s, %s
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
                (lead_id, source_id, operator_id, status, unassigned_reason, assignment, message, metadata,
                 created_at, closed_at)
            SELECT l.id, p.source_id, p.operator_id, 'closed', '', '{{}}', 'Hello!', '{{}}', %s, %s
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
        if connection.vendor == "postgresql":
            # As autovacuum would soon after such a load: merges the GIN indexes' pending lists
            # (a search would otherwise scan them entry by entry) and sets the visibility map;
            # done here, so that autovacuum does not do it during the measurements.
            cursor.execute("VACUUM ANALYZE crm_lead")
            cursor.execute("VACUUM ANALYZE crm_contact")
            cursor.execute("ANALYZE")
        else:
            cursor.execute("ANALYZE")
    return {"contacts": Contact.objects.count(), "added_contacts": missing, "added_leads": n_leads}


def _lead_insert(*, series: str, tag: str, now, n_leads: int, first: int) -> tuple[str, list]:
    """INSERT ... SELECT of `n_leads` leads with profiles (one statement, both databases).
    Profiles are drawn from the lead's number counted from `first` (the first new lead's id),
    so each load adds other people: numbered from 1 at every load, the searched first leads
    had a namesake with the same phone and email in every later load."""

    def values(names: list[str]) -> str:
        return ", ".join(f"({i}, '{name}')" for i, name in enumerate(names))

    h = f"(((seq.n + {int(first) - 1}) * 2654435761) %% 4294967296)"  # Knuth's multiplicative hash
    name = "f.v || ' ' || l.v"
    sql = f"""
        WITH f (i, v) AS (VALUES {values(FIRST_NAMES)}),
             l (i, v) AS (VALUES {values(LAST_NAMES)}),
             d (i, v) AS (VALUES {values(DOMAINS)})
        INSERT INTO crm_lead (external_id, name, name_search, phone, email, created_at, last_seen_at)
        SELECT %s || seq.n, {name}, ' ' || lower({name}) || ' ',
               '+79' || substr(CAST(1000000000 + ({h} * 48271 %% 1000000000) AS TEXT), 2),
               lower(f.v) || '.' || lower(l.v) || CAST(({h} / 7) %% 1000 AS TEXT) || '@' || d.v,
               %s, %s
        FROM ({series}) AS seq
        JOIN f ON f.i = {h} %% {len(FIRST_NAMES)}
        JOIN l ON l.i = ({h} / {len(FIRST_NAMES)}) %% {len(LAST_NAMES)}
        JOIN d ON d.i = ({h} / 100003) %% {len(DOMAINS)}
        ORDER BY seq.n
    """
    return sql, [tag, now, now, n_leads]


def bench_search_terms(*, count: int = 300) -> list[str]:
    """Search terms as staff type them, taken from the first leads (which exist at every size
    of the growth scenario, so each size searches for the same people): a full name, a phone
    written the usual way, an email's local part, in turn."""
    terms = []
    for i, lead in enumerate(Lead.objects.exclude(name="").order_by("id")[:count]):
        kind = i % 3
        if kind == 0:
            terms.append(lead.name)
        elif kind == 1:
            digits = lead.phone[2:]  # +7 9xx xxx xx xx
            terms.append(f"+7 ({digits[:3]}) {digits[3:6]}-{digits[6:8]}-{digits[8:]}")
        else:
            terms.append(lead.email.split("@")[0])
    return terms


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
