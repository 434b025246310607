"""Checking a SQL mapping against the live schema before the first poll.

:func:`check_mapping` reflects the database (SQLAlchemy ``inspect``) and reports, as
configuration problems ``(path, message)``:

- every table the core figures need (the base table, the inner joins, the joins core
  fields read, joins nothing reads) that does not exist or may not be read;
- every field naming a plain column (:meth:`SqlMapping.column_refs`) of an existing
  table whose column does not exist;
- every core SQL expression field and predicate (``where``, ``open_sql``, the join
  conditions) the database rejects, found by a dry run ``SELECT <expr> FROM <source>
  WHERE 1 = 0`` that reads no rows;
- every optional field the database rejects for a reason other than its tables;
- each part of ``past_state`` (``snapshot --as-of``, ``backfill``) the database rejects,
  found by a dry run with an instant bound to ``:as_of``: the status and queue
  expressions on the ticket table, the change rows (``queue_changes``,
  ``queue_join.changes``) on their table, and the mapping's queue over the joins as of
  the instant (``queue_join``, and its ``rows`` on ``held`` as ``backfill`` reads them);
- ``first_assigned_at`` when the database rejects it for a reason other than its tables
  (a table it reads that is missing or not readable is a warning).

An optional field (:data:`collectors.sqlmap.OPTIONAL_FIELDS`) whose table does not exist
or may not be read is not an error but a *warning*: its figures will be absent, and the
warning names the field, the figures, each table and the ``GRANT`` that would fix it. So
is a history table of a preset's own ``past_state`` (only ``snapshot --as-of`` and
``backfill`` read it);
a ``past_state`` the configuration sets is checked as strictly as the core fields.

A database that cannot be reached is not a problem of the mapping: it raises
:class:`SourceUnavailable` (or :class:`AuthFailed`), and the daemon keeps retrying.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc

from collectors.sqlfigures import (
    NEVER,
    TABLE_REF,
    TableProblem,
    attempt,
    grant_for,
    probe_field,
    probe_tables,
    table_problems,
)
from collectors.sqlmap import (
    AS_OF_PARAM,
    CORE_FIELDS,
    IDENT,
    OPTIONAL_FIELDS,
    WORKLOAD_FIELDS,
    Join,
    QueueChanges,
    SqlMapping,
)
from collectors.sqlqueries import PAST_COLUMNS, PollQueries, source_text
from collectors.sqlsession import access_problem, first_line, translate_db_error

__all__ = ["MappingCheck", "check_mapping", "validate_mapping"]

Problem = tuple[str, str]


@dataclass(frozen=True)
class MappingCheck:
    """What :func:`check_mapping` found: errors, and optional figures that will be absent."""

    problems: list[Problem] = dataclasses.field(default_factory=list)
    warnings: list[Problem] = dataclasses.field(default_factory=list)


def validate_mapping(
    engine: sa.Engine, mapping: SqlMapping, source_name: str, source_index: int = 0
) -> list[Problem]:
    """The errors of :func:`check_mapping` (its warnings left out)."""
    return check_mapping(engine, mapping, source_name, source_index).problems


def check_mapping(
    engine: sa.Engine, mapping: SqlMapping, source_name: str, source_index: int = 0
) -> MappingCheck:
    """Problems of ``mapping`` against the live schema, and the figures it cannot give.

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
        core = core_joins(mapping)
        tables, problems = _tables(conn, inspector, mapping, core, (source_name, base, label))
        problems += _columns(inspector, mapping, tables, base, label)
        if any(tables.get(t) is None for t in (mapping.table, *(j.table for j in core))):
            return MappingCheck(problems)  # every statement would fail on the missing table
        problems += _dry_runs(conn, mapping, core, source_name, base, label)
        errors, warnings = _optional(conn, mapping, source_name, base, label, problems)
        history = _history_runs(conn, mapping, source_name, f"{base} -> history", label)
        past = _past_state_runs(conn, mapping, source_name, f"{base} -> past_state", label)
        first = _first_assignment_runs(conn, mapping, source_name, base, label, problems)
        errors += history.problems + past.problems + first.problems
        warnings += first.warnings
        return MappingCheck(problems + errors, warnings + history.warnings + past.warnings)


def core_joins(mapping: SqlMapping) -> list[Join]:
    """The joins the core figures need: all but the left joins only optional fields read."""
    texts = mapping.texts(exclude=(*OPTIONAL_FIELDS, *WORKLOAD_FIELDS))
    core = {j.alias for j in mapping.joins_for(texts.values())}
    optional = {j.alias for j in mapping.joins_for(mapping.texts().values())} - core
    return [j for j in mapping.joins if j.alias not in optional or j.kind == "inner"]


def _tables(
    conn: sa.Connection,
    inspector: Any,
    mapping: SqlMapping,
    core: list[Join],
    where: tuple[str, str, str],
) -> tuple[dict[str, tuple[str | None, str] | None], list[Problem]]:
    """Each mapped table name -> its (schema, name) as the database spells it, or None;
    the core tables not found are problems (optional ones are left to the probes).
    ``where``: the source's name, the problems' base path and the mapping's label."""
    source_name, base, label = where
    names = dict.fromkeys([mapping.table, *(j.table for j in mapping.joins)])
    found = {table: _find_table(inspector, table) for table in names}
    named = [("table", mapping.table)] + [
        (f"joins -> {i} -> table", join.table)
        for i, join in enumerate(mapping.joins)
        if join in core
    ]
    problems: list[Problem] = []
    for path, table in named:
        why = _unreadable(conn, source_name, table, listed=found[table] is not None)
        if why is not None and not any(m.endswith(why) for _, m in problems):
            found[table] = None  # every statement on it would fail
            problems.append((f"{base} -> {path}", f"{label}: {why}"))
    return found, problems


def _unreadable(conn: sa.Connection, source_name: str, table: str, listed: bool) -> str | None:
    """Why a core table cannot be used, or None: it does not exist, or the user may not
    read it (PostgreSQL lists such a table, MariaDB hides it), with the grant to give."""
    probe = sa.select(sa.literal(1)).select_from(sa.text(table)).where(NEVER)
    err = attempt(conn, source_name, probe)
    if err is not None and access_problem(err) == "denied":
        return TableProblem(table, "denied", grant_for(conn, table)).describe()
    return None if listed else f"table {table} does not exist"


def _find_table(inspector: Any, table: str) -> tuple[str | None, str] | None:
    """The table as the database spells it; None when it is missing or not readable (the
    caller tells which)."""
    schema, _, name = table.rpartition(".")
    # unquoted names fold to lower case on PostgreSQL (RT's "Tickets" is tickets)
    for candidate in dict.fromkeys((name, name.lower())):
        try:
            if inspector.has_table(candidate, schema=schema or None):
                return schema or None, candidate
        except exc.DBAPIError as err:  # MySQL's DESCRIBE: denied on a table without grant
            if access_problem(err) != "denied":
                raise
            return None
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
    conn: sa.Connection,
    mapping: SqlMapping,
    core: list[Join],
    source_name: str,
    base: str,
    label: str,
) -> list[Problem]:
    """The core expressions and predicates, on the core tables."""
    queries = PollQueries(mapping, lambda _field, instant: instant)
    source = source_text(mapping.table, core)
    message = _rejected(
        conn, source_name, sa.select(sa.literal(1)).select_from(source).where(NEVER)
    )
    if message is not None:
        return [(f"{base} -> joins", f"{label}: the database rejects the joins: {message}")]
    problems: list[Problem] = []
    checked = set(mapping.column_refs())
    for field in CORE_FIELDS:
        if field in checked or getattr(mapping, field) is None:
            continue
        element = queries.f.require(field)
        message = _rejected(conn, source_name, sa.select(element).select_from(source).where(NEVER))
        if message is not None:
            # a subquery's table the user may not read: say so, with the grant
            tables = table_problems(conn, mapping, field, source_name)
            message = "; ".join(t.describe() for t in tables) if tables else message
            problems.append((f"{base} -> {field}", f"{label}: {field}: {message}"))
    return problems + _predicate_runs(conn, queries, source, source_name, base, label)


def _history_runs(
    conn: sa.Connection, mapping: SqlMapping, source_name: str, path: str, label: str
) -> MappingCheck:
    """The status history's columns and conditions, on its table: a table missing or not
    readable is a warning (the figures it feeds are absent), any other rejection an error."""
    h = mapping.history
    if h is None:
        return MappingCheck()
    texts = [h.ticket, h.at, h.status, h.queue_moves and f"({h.queue_moves})"]
    columns = ", ".join(t if not IDENT.match(t) else f"h.{t}" for t in texts if t)
    scope = f" AND ({h.where})" if h.where else ""
    statement = sa.text(f"SELECT {columns} FROM {h.table} h WHERE 1 = 0{scope}")
    err = attempt(conn, source_name, statement)
    if err is None:
        return MappingCheck()
    access = access_problem(err)
    if access is None:
        message = f"{label}: the database rejects the history: {first_line(err)}"
        return MappingCheck(problems=[(path, message)])
    grant = grant_for(conn, h.table) if access == "denied" else None
    why = TableProblem(h.table, access, grant).describe()
    return MappingCheck(
        warnings=[
            (
                path,
                f"{label}: waiting ages from the status entry and misroutes will be absent: {why}",
            )
        ]
    )


def _past_state_runs(
    conn: sa.Connection, mapping: SqlMapping, source_name: str, path: str, label: str
) -> MappingCheck:
    """Each ``past_state`` expression, as ``snapshot --as-of`` reads it: over the ticket
    table ``t`` with an instant bound to ``:as_of`` (``WHERE 1 = 0``: nothing is read).

    A rejection is an error, except that a table the preset's own ``past_state`` reads
    which does not exist or may not be read is a warning: only ``snapshot --as-of``
    needs it, and it would fail there."""
    past = mapping.past_state
    if past is None:
        return MappingCheck()
    own = _presets_own_past_state(mapping)
    instant: Any = 0 if past.epoch else datetime(2000, 1, 1)
    as_of = sa.bindparam("as_of", instant, type_=sa.Integer() if past.epoch else sa.DateTime())
    check = MappingCheck()
    for name, text, statement in _past_state_statements(mapping):
        if AS_OF_PARAM in statement.text:
            statement = statement.bindparams(as_of)
        err = attempt(conn, source_name, statement)
        if err is None:
            continue
        tables = probe_tables(conn, dict.fromkeys(TABLE_REF.findall(text)), source_name)
        why = "; ".join(t.describe() for t in tables) if tables else first_line(err)
        where = f"{path} -> {name.replace('.', ' -> ')}"
        if tables and own:
            what, reader = PAST_READS[name]
            if name == "queue" and past.queue_changes is not None:
                reader += ", backfill"
            message = f"{label}: {what} ({reader}) cannot be read"
            check.warnings.append((where, f"{message}: {why}"))
        else:
            check.problems.append((where, f"{label}: past_state.{name}: {why}"))
    return check


PAST_READS: dict[str, tuple[str, str]] = {
    "status": ("the status as of a past instant", "snapshot --as-of"),
    "queue": ("the queue as of a past instant", "snapshot --as-of"),
    "queue_changes": ("the rows that change the queue", "backfill"),
    "queue_join": ("the queues as of a past instant", "snapshot --as-of"),
    "queue_join.held": ("the queues held at each hour", "backfill"),
    "queue_join.changes": ("the rows that change the queues", "backfill"),
}
"""What each part of ``past_state`` gives, and the command that reads it (a warning's
words when the preset's own history table cannot be read)."""


def _past_state_statements(mapping: SqlMapping) -> list[tuple[str, str, sa.TextClause]]:
    """``(name, text, statement)``: a dry run (``WHERE 1 = 0``) of each part of the
    mapping's ``past_state``; ``text`` is the SQL whose tables are probed when the
    database rejects it (the expression for ``status`` and ``queue``, else the statement).

    - ``status``, ``queue``: the expression over the ticket table;
    - ``queue_changes`` (and ``queue_join.changes``): the change rows' ticket and time
      under their condition, on their table;
    - ``queue_join``: the mapping's queue over the joins as of ``:as_of``;
    - ``queue_join.held``: the same with the join's ``rows`` on ``on AND held``, as
      ``backfill`` reads them."""
    past = mapping.past_state
    assert past is not None
    out: list[tuple[str, str, sa.TextClause]] = []
    for name in PAST_COLUMNS:
        text = getattr(past, name)
        if text is not None:
            statement = f"SELECT ({text}) FROM {mapping.table} t WHERE 1 = 0"
            out.append((name, text, sa.text(statement)))
    if past.queue_changes is not None:
        out.append(("queue_changes", *_changes_statement(past.queue_changes)))
    join = past.queue_join
    if join is None:
        return out
    queue = mapping.expression("queue") or "NULL"
    used = {j.alias for j in mapping.joins_for([queue])}
    as_of = [j for j in mapping.joins_as_of() if j.alias in used]
    select = f"SELECT {queue} FROM "
    text = f"{select}{source_text(mapping.table, as_of).text} WHERE 1 = 0"
    out.append(("queue_join", text, sa.text(text)))
    if join.rows is not None and join.held is not None and join.changes is not None:
        original = {j.alias: j for j in mapping.joins}[join.alias]
        held = original.model_copy(
            update={"table": join.rows, "on": f"({join.on or original.on}) AND ({join.held})"}
        )
        joins = [held if j.alias == join.alias else j for j in mapping.joins if j.alias in used]
        text = f"{select}{source_text(mapping.table, joins).text} WHERE 1 = 0"
        out.append(("queue_join.held", text, sa.text(text)))
        out.append(("queue_join.changes", *_changes_statement(join.changes)))
    return out


def _changes_statement(changes: QueueChanges) -> tuple[str, sa.TextClause]:
    """The change rows' ticket and time under their condition (nothing read)."""
    columns = f"{changes.expression('ticket')}, {changes.expression('at')}"
    scope = f" AND ({changes.where})" if changes.where else ""
    text = f"SELECT {columns} FROM {changes.table} h WHERE 1 = 0{scope}"
    return text, sa.text(text)


def _presets_own_past_state(mapping: SqlMapping) -> bool:
    """Whether the mapping's ``past_state`` is the one its preset gives (with the
    mapping's table prefix, or the preset's default one: an unset prefix reads as "")."""
    if mapping.preset is None:
        return False
    base: dict[str, Any] = {"preset": mapping.preset}
    if mapping.group_assignment is not None:
        base["group_assignment"] = mapping.group_assignment
    if mapping.backfill_groups is not None:
        base["backfill_groups"] = mapping.backfill_groups
    candidates = (base, {**base, "table_prefix": mapping.table_prefix})
    return any(SqlMapping.model_validate(c).past_state == mapping.past_state for c in candidates)


def _predicate_runs(
    conn: sa.Connection,
    queries: PollQueries,
    source: sa.TextClause,
    source_name: str,
    base: str,
    label: str,
) -> list[Problem]:
    """``where`` and the open predicate, on the core tables."""
    problems: list[Problem] = []
    open_field = "open_sql" if queries.m.open_sql is not None else "open_statuses"
    predicates = [("where", queries.scope()), (open_field, [queries.open_predicate()])]
    for field, conditions in predicates:
        if not conditions:
            continue
        statement = sa.select(sa.literal(1)).select_from(source).where(*conditions, NEVER)
        message = _rejected(conn, source_name, statement)
        if message is not None:
            problems.append((f"{base} -> {field}", f"{label}: {field}: {message}"))
    return problems


def _optional(
    conn: sa.Connection,
    mapping: SqlMapping,
    source_name: str,
    base: str,
    label: str,
    problems: list[Problem],
) -> tuple[list[Problem], list[Problem]]:
    """Each mapped optional field probed on its own tables: a table missing or not
    readable is a warning (figures absent); any other rejection is an error."""
    errors: list[Problem] = []
    warnings: list[Problem] = []
    for name in OPTIONAL_FIELDS:
        path = f"{base} -> {name}"
        if getattr(mapping, name) is None or any(p == path for p, _ in problems):
            continue
        problem = probe_field(conn, mapping, name, source_name)
        if problem is None:
            continue
        if not problem.tables:
            errors.append((path, f"{label}: {name}: {problem.message}"))
            continue
        figures = problem.figures()
        named = f"figure{'s' if len(figures) > 1 else ''} {', '.join(figures)}"
        warnings.append((path, f"{label}: {named} will be absent (not 0): {problem.describe()}"))
    return errors, warnings


def _first_assignment_runs(
    conn: sa.Connection,
    mapping: SqlMapping,
    source_name: str,
    base: str,
    label: str,
    problems: list[Problem],
) -> MappingCheck:
    """``first_assigned_at`` (usually a subquery on a history table), probed on its own
    tables: a table missing or not readable is a warning (the time to first assignment is
    absent: the poll leaves the field out), any other rejection an error."""
    path = f"{base} -> first_assigned_at"
    if mapping.first_assigned_at is None or any(p == path for p, _ in problems):
        return MappingCheck()  # (a plain column that does not exist is reported already)
    problem = probe_field(conn, mapping, "first_assigned_at", source_name)
    if problem is None:
        return MappingCheck()
    if not problem.tables:
        return MappingCheck(problems=[(path, f"{label}: first_assigned_at: {problem.message}")])
    why = problem.describe()
    return MappingCheck(
        warnings=[(path, f"{label}: the time to first assignment will be absent: {why}")]
    )


def _rejected(conn: sa.Connection, source_name: str, statement: sa.Executable) -> str | None:
    """The database's message if it rejects ``statement``, else None (see ``attempt``)."""
    err = attempt(conn, source_name, statement)
    return None if err is None else first_line(err)
