"""Hot-path statements compiled to SQL once per database connection.

The ORM compiles a queryset to SQL on every execution, and on the intake that compilation
was the largest single cost (docs/performance.md). A `CompiledQuery` is a queryset compiled
once, with marker values standing in for the parameters that change; each execution puts
the real values in their places, runs the SQL and turns the rows into model instances (or
values) the way the ORM's own iterables do (converters included: SQLite returns datetimes
as text). `compiled()` keeps one per name on the connection wrapper (one per thread and
alias, kept across requests), so the SQL always matches the connection's database.

`insert()` is the same idea for INSERTs: one statement per model and row count, the values
prepared by each field as `Model.save()` would, the new ids read back with RETURNING.

Only what the hot path runs goes through here; everything else stays plain ORM.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators


class CompiledQuery:
    """`queryset` compiled once. `markers` name the parameters that change: each marker
    value must appear exactly once among the compiled parameters (pick values no real
    query uses, e.g. a negative id)."""

    def __init__(self, queryset: QuerySet, **markers: Any):
        self.alias = queryset.db
        compiler = queryset.query.get_compiler(using=self.alias)
        # as_sql() also fills compiler.select, klass_info and annotation_col_map.
        sql, params = compiler.as_sql()
        self.sql, self.params = sql, list(params)
        self.slots = {}
        for name, marker in markers.items():
            found = [i for i, value in enumerate(self.params) if value == marker]
            if len(found) != 1:
                raise ValueError(f"marker {name}={marker!r} found {len(found)} times among the parameters")
            self.slots[name] = found[0]
        self.compiler = compiler
        self.converters = compiler.get_converters([s[0] for s in compiler.select[: compiler.col_count]])
        klass_info = compiler.klass_info
        self.model = klass_info["model"] if klass_info else None
        if klass_info:
            select_fields = klass_info["select_fields"]
            self.model_slice = slice(select_fields[0], select_fields[-1] + 1)
            self.init_list = [f[0].target.attname for f in compiler.select[self.model_slice]]
            self.populators = get_related_populators(klass_info, compiler.select, self.alias)

    def rows(self, **values: Any) -> list[tuple]:
        """The rows, each a tuple of Python values (a values_list queryset's columns)."""
        params = self.params.copy()
        for name, value in values.items():
            params[self.slots[name]] = value
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
            found.append(obj)
        return found


def compiled(name: str, build: Callable[[], CompiledQuery], alias: str = DEFAULT_DB_ALIAS) -> CompiledQuery:
    """This connection's CompiledQuery called `name`, built by `build()` on first use."""
    cache = connections[alias].__dict__.setdefault("crm_compiled", {})
    query = cache.get(name)
    if query is None:
        query = cache[name] = build()
    return query


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
    fields = [f for f in opts.concrete_fields if not (f.primary_key and f.get_internal_type().endswith("AutoField"))]
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
        for f in fields:
            params.append(f.get_db_prep_save(f.pre_save(obj, True), connection))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = [row[0] for row in cursor.fetchall()]
    for obj, pk in zip(objs, ids, strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = alias
