"""Which optional figures a SQL source can give: each optional field probed on its own.

A read-only monitoring user is often granted only the ticket tables, and a product
version may lack a table (Znuny's ``article`` tables, Zammad's ``histories``, GLPI's
``glpi_tickets_users``). Such a table only costs the figures that read it
(:data:`collectors.sqlmap.FIGURE_FIELDS`): :func:`probe_field` runs a field's expression
on the tables it needs with ``WHERE 1 = 0`` (parsed and planned, no row read) and, when
the database rejects it, names each of those tables that does not exist or may not be
read, with the ``GRANT`` that would fix it. :class:`Availability` keeps what a collector
found between polls (a cache of the store's grants, not of its figures) and checks the
unreadable fields again every hour.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import exc

from collectors.base import OPTIONAL_FIGURES, FigureState
from collectors.sqlmap import FIGURE_FIELDS, OPTIONAL_FIELDS, SqlMapping
from collectors.sqlqueries import PollQueries
from collectors.sqlsession import Access, access_problem, first_line, translate_db_error

NEVER = sa.text("1 = 0")
"""The dry runs' WHERE: the database parses and plans the statement but reads no row."""

TABLE_REF = re.compile(r"\b(?:FROM|JOIN)\s+([A-Za-z_][\w$]*(?:\.[A-Za-z_][\w$]*)?)", re.I)
"""A table an expression's subquery reads (``FROM article a``, ``JOIN ticket_state s``)."""


@dataclass(frozen=True)
class TableProblem:
    """A table a field needs that does not exist or may not be read."""

    table: str
    access: Access
    grant: str | None = None
    """The statement that gives the monitoring user read access (None on SQLite)."""

    def describe(self) -> str:
        if self.access == "missing":
            return f"table {self.table} does not exist"
        fix = f"; run {self.grant}" if self.grant else ""
        return f"table {self.table} cannot be read by the monitoring user{fix}"


@dataclass(frozen=True)
class FieldProblem:
    """Why the database rejects an optional field: its tables, else its own message."""

    field: str
    tables: tuple[TableProblem, ...]
    message: str

    def describe(self) -> str:
        if self.tables:
            return "; ".join(t.describe() for t in self.tables)
        return f"the database rejects it: {self.message}"

    def figures(self) -> list[str]:
        """The optional figures this field feeds."""
        return [name for name, fields in FIGURE_FIELDS.items() if self.field in fields]


def probe_field(
    conn: sa.Connection, mapping: SqlMapping, field: str, source_name: str
) -> FieldProblem | None:
    """Why ``field`` cannot be read, or None when the database accepts it.

    Raises:
        SourceUnavailable, AuthFailed: the connection failed (not the field's fault).
    """
    queries = PollQueries(mapping, lambda _field, instant: instant)
    statement = (
        sa.select(queries.f.require(field)).select_from(queries.source([field])).where(NEVER)
    )
    err = attempt(conn, source_name, statement)
    if err is None:
        return None
    tables = tuple(table_problems(conn, mapping, field, source_name))
    return FieldProblem(field, tables, first_line(err))


def attempt(
    conn: sa.Connection, source_name: str, statement: sa.Executable
) -> exc.DBAPIError | None:
    """The error if the database rejects ``statement``, else None.

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
                return err
        with translate_db_error(source_name):
            raise
    conn.rollback()
    return None


def tables_of(mapping: SqlMapping, field: str) -> list[str]:
    """The tables ``field`` reads: its joins' and those of its subqueries, in order."""
    text = mapping.expression(field) or ""
    named = [j.table for j in mapping.joins_for([text])] + TABLE_REF.findall(text)
    return list(dict.fromkeys(named))


def table_problems(
    conn: sa.Connection, mapping: SqlMapping, field: str, source_name: str
) -> list[TableProblem]:
    """The tables ``field`` reads that do not exist or may not be read."""
    return probe_tables(conn, tables_of(mapping, field), source_name)


def probe_tables(
    conn: sa.Connection, tables: Iterable[str], source_name: str
) -> list[TableProblem]:
    """Those of ``tables`` that do not exist or may not be read (one probe each that
    reads no row)."""
    out = []
    for table in tables:
        probe = sa.select(sa.literal(1)).select_from(sa.text(table)).where(NEVER)
        err = attempt(conn, source_name, probe)
        access = access_problem(err) if err is not None else None
        if access is not None:
            grant = grant_for(conn, table) if access == "denied" else None
            out.append(TableProblem(table, access, grant))
    return out


def grant_for(conn: sa.Connection, table: str) -> str | None:
    """``GRANT SELECT`` on ``table`` to the user of this session (None on SQLite)."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        user = str(conn.execute(sa.text("SELECT current_user")).scalar())
        return f"GRANT SELECT ON {table} TO {conn.dialect.identifier_preparer.quote(user)}"
    if dialect in ("mysql", "mariadb"):
        account = str(conn.execute(sa.text("SELECT CURRENT_USER()")).scalar())
        user, _, host = account.rpartition("@")
        database = conn.execute(sa.text("SELECT DATABASE()")).scalar()
        qualified = table if "." in table or database is None else f"{database}.{table}"
        return f"GRANT SELECT ON {qualified} TO '{user}'@'{host}'"
    return None


class Availability:
    """The optional fields one collector found unreadable, and the figures that costs."""

    RECHECK = timedelta(hours=1)
    """How often unreadable fields are probed again (a grant given later is noticed)."""

    def __init__(self, mapping: SqlMapping) -> None:
        self.mapping = mapping
        self.problems: dict[str, FieldProblem] = {}
        self.checked_at: datetime | None = None

    def states(self) -> tuple[FigureState, ...]:
        """Every optional figure: available, or why not."""
        out = []
        for name in OPTIONAL_FIGURES:
            fields = FIGURE_FIELDS[name]
            if getattr(self.mapping, fields[0]) is None:
                reason = f"not mapped ({fields[0]} is not set)"
                out.append(FigureState(name, False, reason, mapped=False))
                continue
            broken = [self.problems[f] for f in fields if f in self.problems]
            reason = "; ".join(f"{p.field}: {p.describe()}" for p in broken)
            out.append(FigureState(name, not broken, reason))
        return tuple(out)

    def skip(self) -> frozenset[str]:
        """The fields the statements must leave out: those of every absent figure."""
        return frozenset(FIGURE_FIELDS[s.name][0] for s in self.states() if not s.available)

    def degrade(self, conn: sa.Connection, source_name: str, now: datetime) -> bool:
        """Probe each optional field still read; True when one more turned out unreadable."""
        found = False
        for field in OPTIONAL_FIELDS:
            if field in self.problems or getattr(self.mapping, field) is None:
                continue
            problem = probe_field(conn, self.mapping, field, source_name)
            if problem is not None:
                self.problems[field] = problem
                found = True
        if found:
            self.checked_at = now
        return found

    def recheck(self, conn: sa.Connection, source_name: str, now: datetime) -> None:
        """Probe the unreadable fields again once :attr:`RECHECK` has passed."""
        if not self.problems or (
            self.checked_at is not None and now - self.checked_at < self.RECHECK
        ):
            return
        self.checked_at = now
        for field in list(self.problems):
            if probe_field(conn, self.mapping, field, source_name) is None:
                del self.problems[field]
