"""Checking a SQL mapping against the live schema before the first poll.

:func:`validate_mapping` reflects the database (SQLAlchemy ``inspect``) and reports, as
configuration problems ``(path, message)``:

- every table of the mapping (the base table and each join) that does not exist;
- every field naming a plain column (:meth:`SqlMapping.column_refs`) whose column does
  not exist;
- every SQL expression field and predicate (``where``, ``open_sql``, the join conditions)
  the database rejects, found by a dry run ``SELECT <expr> FROM <source> WHERE 1 = 0``
  that reads no rows.

A database that cannot be reached is not a problem of the mapping: it raises
:class:`SourceUnavailable` (or :class:`AuthFailed`), and the daemon keeps retrying.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc

from collectors.sqlmap import DIMENSION_FIELDS, TIME_FIELDS, SqlMapping
from collectors.sqlqueries import PollQueries
from collectors.sqlsession import _first_line, translate_db_error

__all__ = ["validate_mapping"]

Problem = tuple[str, str]

NEVER = sa.text("1 = 0")
"""The dry runs' WHERE: the database parses and plans the statement but reads no row."""


def validate_mapping(
    engine: sa.Engine, mapping: SqlMapping, source_name: str, source_index: int = 0
) -> list[Problem]:
    """Problems of ``mapping`` against the live schema; an empty list when it matches.

    Args:
        engine: an engine on the help desk's database (read-only sessions suffice).
        mapping: the source's mapping, preset applied.
        source_name: the source's name, for the errors raised when it is unreachable.
        source_index: the source's position in ``sources``, for the problems' paths.

    Raises:
        SourceUnavailable, AuthFailed: the database cannot be reached (not a mapping
            problem: retry later).
    """
    base = f"sources -> {source_index} -> mapping"
    label = mapping.source_label()
    with translate_db_error(source_name), engine.connect() as conn:
        inspector = sa.inspect(conn)
        tables, problems = _tables(inspector, mapping, base, label)
        problems += _columns(inspector, mapping, tables, base, label)
        if any(table is None for table in tables.values()):
            return problems  # every statement would fail on the missing table
        return problems + _dry_runs(conn, mapping, source_name, base, label)


def _tables(
    inspector: Any, mapping: SqlMapping, base: str, label: str
) -> tuple[dict[str, tuple[str | None, str] | None], list[Problem]]:
    """Each mapped table name -> its (schema, name) as the database spells it, or None."""
    named = [("table", mapping.table)] + [
        (f"joins -> {i} -> table", join.table) for i, join in enumerate(mapping.joins)
    ]
    found: dict[str, tuple[str | None, str] | None] = {}
    problems: list[Problem] = []
    for path, table in named:
        if table not in found:
            found[table] = _find_table(inspector, table)
            if found[table] is None:
                problems.append((f"{base} -> {path}", f"{label}: table {table} does not exist"))
    return found, problems


def _find_table(inspector: Any, table: str) -> tuple[str | None, str] | None:
    schema, _, name = table.rpartition(".")
    # unquoted names fold to lower case on PostgreSQL (RT's "Tickets" is tickets)
    for candidate in dict.fromkeys((name, name.lower())):
        if inspector.has_table(candidate, schema=schema or None):
            return schema or None, candidate
    return None


def _columns(
    inspector: Any,
    mapping: SqlMapping,
    tables: dict[str, tuple[str | None, str] | None],
    base: str,
    label: str,
) -> list[Problem]:
    problems: list[Problem] = []
    known: dict[str, set[str]] = {}
    for field, (table, column) in mapping.column_refs().items():
        where = tables.get(table)
        if where is None:
            continue  # reported as a missing table
        if table not in known:
            schema, name = where
            known[table] = {c["name"].lower() for c in inspector.get_columns(name, schema=schema)}
        if column.lower() not in known[table]:
            problems.append(
                (f"{base} -> {field}", f"{label}: column {table}.{column} does not exist")
            )
    return problems


def _dry_runs(
    conn: sa.Connection, mapping: SqlMapping, source_name: str, base: str, label: str
) -> list[Problem]:
    queries = PollQueries(mapping, lambda _field, instant: instant)
    source = queries.source()
    message = _rejected(
        conn, source_name, sa.select(sa.literal(1)).select_from(source).where(NEVER)
    )
    if message is not None:
        return [(f"{base} -> joins", f"{label}: the database rejects the joins: {message}")]
    problems: list[Problem] = []
    checked = set(mapping.column_refs())
    for field in (*DIMENSION_FIELDS, *TIME_FIELDS):
        if field in checked or getattr(mapping, field) is None:
            continue
        element = queries.f.require(field)
        message = _rejected(conn, source_name, sa.select(element).select_from(source).where(NEVER))
        if message is not None:
            problems.append((f"{base} -> {field}", f"{label}: {field}: {message}"))
    predicates = [
        ("where", queries.scope()),
        (
            "open_sql" if mapping.open_sql is not None else "open_statuses",
            [queries.open_predicate()],
        ),
    ]
    for field, conditions in predicates:
        if not conditions:
            continue
        statement = sa.select(sa.literal(1)).select_from(source).where(*conditions, NEVER)
        message = _rejected(conn, source_name, statement)
        if message is not None:
            problems.append((f"{base} -> {field}", f"{label}: {field}: {message}"))
    return problems


def _rejected(conn: sa.Connection, source_name: str, statement: sa.Executable) -> str | None:
    """The database's message if it rejects ``statement``, else None.

    An error is the statement's when the connection still answers ``SELECT 1`` afterwards
    (drivers classify bad SQL inconsistently: SQLite reports some syntax errors as plain
    OperationalError). Otherwise it propagates as :class:`SourceUnavailable` (or
    :class:`AuthFailed`) through ``translate_db_error``.
    """
    try:
        conn.execute(statement).all()
    except exc.DBAPIError as err:
        if not err.connection_invalidated:
            try:
                conn.rollback()
                conn.execute(sa.text("SELECT 1")).all()
            except exc.DBAPIError:
                pass
            else:
                conn.rollback()
                return _first_line(err)
        with translate_db_error(source_name):
            raise
    conn.rollback()
    return None
