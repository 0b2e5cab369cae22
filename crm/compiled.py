"""Hot-path statements compiled to SQL once per database connection.

The ORM compiles a queryset to SQL on every execution, and on the intake that compilation
was the largest single cost (docs/performance.md). A `CompiledQuery` is a queryset compiled
once, with marker values standing in for the parameters that change; each execution puts
the real values in their places, runs the SQL and turns the rows into model instances (or
values) the way the ORM's own iterables do (converters included: SQLite returns datetimes
as text). `compiled()` keeps one per name on the connection wrapper (one per thread and
alias, kept across requests), so the SQL always matches the connection's database.

`insert()` is the same idea for INSERTs: one statement per model and row count, the values
prepared by each field as `Model.save()` would, the new ids read back with RETURNING;
`insert_unless()` writes one row unless a compiled query finds something, in the same
statement.

Only what the hot path runs goes through here; everything else stays plain ORM.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Lookup, Model, QuerySet
from django.db.models.query import get_related_populators
from django.utils import timezone
from django.utils.dateparse import parse_datetime


def db_datetime(value):
    """A datetime column read through a raw cursor: SQLite hands back text or naive UTC."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is not None and timezone.is_naive(value):
        value = timezone.make_aware(value, datetime.UTC)
    return value


# An id no row has: stands for a query's changing id (a source's, say) while it is compiled,
# as a CompiledQuery's marker.
ID_MARKER = -7_700_001


class CompiledQuery:
    """`queryset` compiled once. `markers` name the parameters that change: each marker
    value must appear among the compiled parameters (pick values no real query uses, e.g. a
    negative id); every place it appears gets the value.

    `sqlite_index`: (the FROM item as compiled, an index) for a query SQLite's planner gets
    wrong without statistics: on SQLite the item is compiled with INDEXED BY that index."""

    def __init__(
        self,
        queryset: QuerySet,
        *,
        sqlite_index: tuple[str, str] | None = None,
        **markers: Any,
    ):
        self.alias = queryset.db
        connection = connections[self.alias]
        compiler = queryset.query.get_compiler(using=self.alias)
        # as_sql() also fills compiler.select, klass_info and annotation_col_map.
        sql, params = compiler.as_sql()
        if sqlite_index and connection.vendor == "sqlite":
            item, index = sqlite_index
            if item not in sql:
                raise ValueError(f"{item!r} is not in the compiled SQL")
            sql = sql.replace(item, f"{item} INDEXED BY {connection.ops.quote_name(index)}")
        self.sql, self.params = sql, list(params)
        self.slots: dict[str, list[int]] = {}
        for name, marker in markers.items():
            found = [i for i, value in enumerate(self.params) if value == marker]
            if not found:
                raise ValueError(f"marker {name}={marker!r} is not among the parameters")
            self.slots[name] = found
        self.compiler = compiler
        self.converters = compiler.get_converters([s[0] for s in compiler.select[: compiler.col_count]])
        klass_info = compiler.klass_info
        self.model = klass_info["model"] if klass_info else None
        if klass_info:
            select_fields = klass_info["select_fields"]
            self.model_slice = slice(select_fields[0], select_fields[-1] + 1)
            self.init_list = [f[0].target.attname for f in compiler.select[self.model_slice]]
            self.populators = get_related_populators(klass_info, compiler.select, self.alias)
            self.annotations = list(compiler.annotation_col_map.items())

    def bind(self, **values: Any) -> list:
        """The parameters with `values` in their markers' places."""
        params = self.params.copy()
        for name, value in values.items():
            for i in self.slots[name]:
                params[i] = value
        return params

    def rows(self, **values: Any) -> list[tuple]:
        """The rows, each a tuple of Python values (a values_list queryset's columns)."""
        params = self.bind(**values)
        with connections[self.alias].cursor() as cursor:
            cursor.execute(self.sql, params)
            rows = cursor.fetchall()
        if self.converters:
            return [tuple(row) for row in self.compiler.apply_converters(rows, self.converters)]
        return rows

    def objects(self, **values: Any) -> list[Model]:
        """Model instances, with their select_related() rows attached (as ModelIterable)."""
        found = []
        for row in self.rows(**values):
            obj = self.model.from_db(self.alias, self.init_list, row[self.model_slice])
            for populator in self.populators:
                populator.populate(row, obj)
            for name, position in self.annotations:
                setattr(obj, name, row[position])
            found.append(obj)
        return found


class LiteralExact(Lookup):
    """`field__literal=VALUE`: `field = 'VALUE'` with the value written into the SQL, not bound.
    A partial index whose condition is that equality (status = 'pending') matches the query
    only so: PostgreSQL's generic plan for a prepared statement (psycopg prepares a statement
    after its fifth run on a connection, settings.postgres_tuned) cannot know a bound value,
    and fell back to an index that reads every row of the endpoint (the webhook claim: 16
    deliveries a second, bench/webhooks.py, 2026-11-27). For the code's own constants only
    (registered on CharField in crm.apps), never for input."""

    lookup_name = "literal"

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        value = str(self.rhs)
        if "%" in value or "\\" in value:
            raise ValueError(f"{value!r} cannot be written as a literal here")
        quoted = "'" + value.replace("'", "''") + "'"
        return f"{lhs} = {quoted}", params


def compiled(name: str, build: Callable[[], CompiledQuery], alias: str = DEFAULT_DB_ALIAS) -> CompiledQuery:
    """This connection's CompiledQuery called `name`, built by `build()` on first use."""
    cache = connections[alias].__dict__.setdefault("crm_compiled", {})
    query = cache.get(name)
    if query is None:
        query = cache[name] = build()
    return query


def _insert_fields(model) -> list:
    return [
        f for f in model._meta.concrete_fields if not (f.primary_key and f.get_internal_type().endswith("AutoField"))
    ]


def _prepared(obj: Model, fields: list, connection) -> list:
    return [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]


def _saved(obj: Model, pk, alias: str) -> None:
    obj.pk = pk
    obj._state.adding = False
    obj._state.db = alias


def insert_unless(
    obj: Model,
    exists: CompiledQuery,
    *,
    children: Callable[[], Sequence[Model]] | None = None,
    link: str = "",
    **values: Any,
) -> bool:
    """INSERT one unsaved instance unless `exists` (run with `values`) finds a row, in one
    statement: INSERT ... SELECT ... WHERE NOT EXISTS (...) RETURNING the new id. The check
    and the insert see the same snapshot, taken when the statement starts. True when the row
    was written (its primary key then set).

    `children()`, called once `obj`'s fields are prepared (its auto_now_add times set), makes
    rows of another model that are written with their `link` field set to `obj`'s new id, in
    order, and only if `obj` is: on PostgreSQL in the same statement (a data-modifying WITH:
    one round trip instead of two), elsewhere in a second one (`insert`)."""
    model, alias = type(obj), exists.alias
    connection = connections[alias]
    opts = model._meta
    fields = _insert_fields(model)
    params = _prepared(obj, fields, connection)
    kids = list(children()) if children is not None else []
    one_statement = bool(kids) and connection.vendor == "postgresql"
    cache = connection.__dict__.setdefault("crm_inserts", {})
    key = (opts.label, "unless", exists.sql, type(kids[0])._meta.label if one_statement else None, len(kids), link)
    sql = cache.get(key)
    if sql is None:
        quote = connection.ops.quote_name
        sql = (
            f"INSERT INTO {quote(opts.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
            f"SELECT {', '.join(['%s'] * len(fields))} WHERE NOT EXISTS ({exists.sql}) "
            f"RETURNING {quote(opts.pk.column)}"
        )
        if one_statement:
            sql = _with_children(sql, opts.pk.column, type(kids[0]), len(kids), link, connection)
        cache[key] = sql
    params += exists.bind(**values)
    if one_statement:
        kid_fields = [f for f in _insert_fields(type(kids[0])) if f.attname != link]
        for kid in kids:
            params += _prepared(kid, kid_fields, connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return False
    _saved(obj, row[0], alias)
    for kid in kids:
        setattr(kid, link, obj.pk)
    if one_statement:
        for kid, pk in zip(kids, row[1], strict=True):
            _saved(kid, pk, alias)
    else:
        insert(kids, alias)
    return True


def _with_children(parent_sql: str, parent_pk: str, model, count: int, link: str, connection) -> str:
    """PostgreSQL: `parent_sql` (an INSERT ... RETURNING the new id) and the INSERT of `count`
    rows of `model` whose `link` is that id, as one statement that returns the parent's id
    and the children's ids in order (or no row when the parent was not written). Each
    child is a SELECT ... FROM parent joined by UNION ALL, its parameters cast to their
    columns' types (a UNION's branches must agree on them; the length of varchar(n) is left
    to the INSERT, which refuses what a cast would cut)."""
    quote = connection.ops.quote_name
    opts = model._meta
    parent_id, child_id = f"parent.{quote(parent_pk)}", quote(opts.pk.column)
    # The link's column in its place among the others, whose parameters come in this order.
    fields = [f for f in _insert_fields(model) if f.attname != link] + [opts.get_field(link.removesuffix("_id"))]
    columns = ", ".join(quote(f.column) for f in fields)
    one = ", ".join(parent_id if f.attname == link else f"%s::{f.db_type(connection).split('(')[0]}" for f in fields)
    rows = " UNION ALL ".join([f"SELECT {one} FROM parent"] * count)
    return (
        f"WITH parent AS ({parent_sql}), "
        f"children AS (INSERT INTO {quote(opts.db_table)} ({columns}) {rows} RETURNING {child_id}) "
        f"SELECT {parent_id}, ARRAY(SELECT {child_id} FROM children ORDER BY {child_id}) FROM parent"
    )


def insert(objs: Sequence[Model], alias: str = DEFAULT_DB_ALIAS) -> None:
    """INSERT unsaved instances of one model in one statement, in order, and set their
    primary keys (auto_now_add and the like applied by the fields' pre_save, defaults by the
    model's __init__, as for save()). No signals: the models written here have no
    receivers. Falls back to bulk_create where the database cannot return the new ids."""
    if not objs:
        return
    model = type(objs[0])
    connection = connections[alias]
    if not connection.features.can_return_rows_from_bulk_insert:
        model._default_manager.using(alias).bulk_create(objs)
        return
    opts = model._meta
    fields = _insert_fields(model)
    cache = connection.__dict__.setdefault("crm_inserts", {})
    key = (opts.label, len(objs))
    sql = cache.get(key)
    if sql is None:
        quote = connection.ops.quote_name
        row = "(" + ", ".join(["%s"] * len(fields)) + ")"
        sql = cache[key] = (
            f"INSERT INTO {quote(opts.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
            f"VALUES {', '.join([row] * len(objs))} RETURNING {quote(opts.pk.column)}"
        )
    params = []
    for obj in objs:
        params += _prepared(obj, fields, connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = [row[0] for row in cursor.fetchall()]
    for obj, pk in zip(objs, ids, strict=True):
        _saved(obj, pk, alias)
