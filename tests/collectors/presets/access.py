"""Read-only monitoring users granted only some tables, and what a poll then reports.

A help desk's monitoring user is often granted the ticket tables only. :func:`reader`
makes such a user for real (a PostgreSQL role, a MariaDB user, uniquely named, dropped
afterwards); :func:`without` is what the collector must report when figures are absent;
:func:`exported` and :func:`check_config` look at the same source through the metric and
through ``backlog-monitor check-config --connect``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from click.testing import CliRunner, Result
from prometheus_client import CollectorRegistry

from collectors.base import QueueStats, Snapshot
from monitor.cli import main
from monitor.metrics import BacklogCollector, RuntimeStats
from monitor.store import history
from monitor.store.engine import migrate, open_store
from tests.collectors.presets.realdata import rounded


@dataclass(frozen=True)
class Reader:
    """A login that may read some tables: its URL, and how to change its grants."""

    url: str
    name: str
    admin_url: str

    def revoke(self, table: str) -> None:
        self._run(f"REVOKE SELECT ON {self._table(table)} FROM {self._grantee()}")

    def grant(self, table: str) -> None:
        self._run(f"GRANT SELECT ON {self._table(table)} TO {self._grantee()}")

    def grant_statement(self, table: str) -> str:
        """The GRANT the collector is expected to print for ``table``."""
        if _backend(self.url) == "postgresql":
            return f"GRANT SELECT ON {table} TO {self.name}"
        return (
            f"GRANT SELECT ON {sa.engine.make_url(self.url).database}.{table} TO {self._grantee()}"
        )

    def _grantee(self) -> str:
        return self.name if _backend(self.url) == "postgresql" else f"'{self.name}'@'%'"

    def _table(self, table: str) -> str:
        if _backend(self.url) == "postgresql":
            return f'"{_schema(self.url)}"."{table}"'
        return f"`{sa.engine.make_url(self.url).database}`.`{table}`"

    def _run(self, *statements: str) -> None:
        admin = sa.create_engine(self.admin_url)
        try:
            with admin.begin() as conn:
                for statement in statements:
                    conn.execute(sa.text(statement))
        finally:
            admin.dispose()


@contextmanager
def reader(admin_url: str, tables: Iterable[str]) -> Iterator[Reader]:
    """A new login that may only SELECT ``tables`` of ``admin_url``'s database (MariaDB) or
    schema (PostgreSQL); dropped afterwards, its sessions ended first."""
    name = f"ro_{uuid.uuid4().hex[:10]}"
    url = sa.engine.make_url(admin_url).set(username=name, password=None)
    made = Reader(url.render_as_string(hide_password=False), name, admin_url)
    if _backend(admin_url) == "postgresql":
        made._run(
            f"CREATE ROLE {name} LOGIN", f'GRANT USAGE ON SCHEMA "{_schema(admin_url)}" TO {name}'
        )
    else:
        made._run(f"CREATE USER '{name}'@'%'")
    try:
        for table in tables:
            made.grant(table)
        yield made
    finally:
        if _backend(admin_url) == "postgresql":
            made._run(
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{name}'",
                f"DROP OWNED BY {name}",
                f"DROP ROLE {name}",
            )
        else:
            made._run(f"DROP USER '{name}'@'%'")


def _backend(url: str) -> str:
    return sa.engine.make_url(url).get_backend_name()


def _schema(url: str) -> str:
    options = str(sa.engine.make_url(url).query["options"])
    return options.removeprefix("-csearch_path=")


def without(queues: Iterable[QueueStats], absent: Iterable[str]) -> tuple[QueueStats, ...]:
    """``queues`` as a source reports them when the optional figures ``absent`` are not
    readable: None, or left out of the SLA maps, or an empty priority label."""
    gone = set(absent)
    if "first_response" in gone:
        gone.add("sla_first_response")  # met by the first response: unknown without it
    return tuple(_without(q, gone) for q in queues)


def _without(q: QueueStats, gone: set[str]) -> QueueStats:
    changes: dict[str, Any] = {}
    if "priority" in gone:
        by: dict[tuple[str, str], int] = {}
        for (status, _), n in q.open_by_status_priority.items():
            by[(status, "")] = by.get((status, ""), 0) + n
        changes["open_by_status_priority"] = by
    if "unassigned" in gone:
        changes["unassigned"] = None
    if "first_response" in gone:
        changes["avg_first_response_s"] = None
    if "reopened" in gone:
        changes["reopened"] = None
    kinds = {"sla_first_response": "first_response", "sla_resolution": "resolution"}
    dropped = {kind for figure, kind in kinds.items() if figure in gone}
    for name in ("sla_breached_open", "sla_at_risk", "sla_breached_window"):
        value = getattr(q, name)
        if value is not None and dropped:
            kept = {k: n for k, n in value.items() if k not in dropped}
            changes[name] = kept or None
    return replace(q, **changes)


def exported(snapshot: Snapshot, tmp_path: Path) -> dict[str, float]:
    """``backlog_collector_figure_available`` per figure, after storing ``snapshot``."""
    engine = open_store(f"sqlite:///{tmp_path}/history-{uuid.uuid4().hex[:6]}.db")
    try:
        migrate(engine)
        with engine.begin() as conn:
            history.record_snapshot(conn, snapshot)
        registry = CollectorRegistry()
        registry.register(
            BacklogCollector(
                engine, RuntimeStats(), lambda: [snapshot.source], lambda: snapshot.as_of
            )
        )
        return {
            s.labels["figure"]: s.value
            for family in registry.collect()
            if family.name == "backlog_collector_figure_available"
            for s in family.samples
        }
    finally:
        engine.dispose()


def check_config(tmp_path: Path, source: dict[str, Any]) -> Result:
    """``backlog-monitor check-config --connect`` on one source (in-process, click's runner)."""
    path = tmp_path / f"config-{uuid.uuid4().hex[:6]}.yaml"
    config = {"store": {"url": f"sqlite:///{tmp_path}/history.db"}, "sources": [source]}
    path.write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
    return CliRunner().invoke(main, ["check-config", "--config", str(path), "--connect"])


@dataclass(frozen=True)
class Withheld:
    """One case: the optional tables the monitoring user may not read, and what it costs."""

    tables: tuple[str, ...]
    fields: tuple[str, ...]
    """The mapping fields whose warning must name the tables."""
    absent: frozenset[str]
    """The figures that must be absent."""


def verify_without(
    case: Withheld,
    admin_url: str,
    tables: Iterable[str],
    collect: Callable[[str], Snapshot],
    want: tuple[QueueStats, ...],
    want_total: QueueStats,
    tmp_path: Path,
    source: dict[str, Any],
) -> None:
    """Poll with ``collect(url)`` as a user granted every one of ``tables`` but the case's,
    then check the snapshot (:func:`verify_degraded`), the metric and check-config
    (:func:`verify_reported`), and that a broken core field still stops the start."""
    with reader(admin_url, [t for t in tables if t not in case.tables]) as user:
        snapshot = collect(user.url)
        verify_degraded(snapshot, case, user, want, want_total)
        verify_reported(snapshot, case, user, tmp_path, source)
        verify_core_still_checked(tmp_path, source, user)


def verify_degraded(
    snapshot: Snapshot,
    case: Withheld,
    user: Reader,
    want: tuple[QueueStats, ...],
    want_total: QueueStats,
) -> None:
    """The poll succeeded: core figures exact, the case's figures absent (never 0), and each
    absent figure's reason names a withheld table and the GRANT that gives it."""
    assert rounded(snapshot.queues) == rounded(without(want, case.absent))
    assert snapshot.total is not None
    assert rounded((snapshot.total,)) == rounded(without((want_total,), case.absent))
    states = {f.name: f for f in snapshot.figures}
    for figure in case.absent:
        reason = states[figure].reason
        assert not states[figure].available, figure
        assert any(_names(reason, table, user) for table in case.tables), reason


def verify_reported(
    snapshot: Snapshot, case: Withheld, user: Reader, tmp_path: Path, source: dict[str, Any]
) -> None:
    """The metric says 0 for the absent figures (1 for the others the mapping has), and
    ``check-config --connect`` warns with the field, table and grant, and exits 0."""
    metric = exported(snapshot, tmp_path)
    mapped = {f.name for f in snapshot.figures if f.mapped}
    assert {f for f in mapped if metric[f] == 0.0} == set(case.absent)
    assert {f for f in mapped if metric[f] == 1.0} == mapped - set(case.absent)
    done = check_config(tmp_path, {**source, "url": user.url})
    assert done.exit_code == 0, done.output
    for field in case.fields:
        [line] = [x for x in done.stderr.splitlines() if f"mapping -> {field}:" in x]
        assert line.startswith("warning: sources -> 0 -> mapping -> ")
        assert any(_names(line, table, user) for table in case.tables), line


def verify_core_still_checked(tmp_path: Path, source: dict[str, Any], user: Reader) -> None:
    """A broken core field still stops ``check-config --connect`` with exit code 2."""
    mapping = {**source["mapping"], "created_at": "no_such_column"}
    done = check_config(tmp_path, {**source, "url": user.url, "mapping": mapping})
    assert done.exit_code == 2, done.output
    assert "mapping -> created_at" in done.stderr and "no_such_column" in done.stderr


def verify_core_table_required(
    admin_url: str, tables: Iterable[str], table: str, tmp_path: Path, source: dict[str, Any]
) -> None:
    """A core table the user may not read stops check-config --connect (exit 2), and the
    error gives the GRANT."""
    with reader(admin_url, [t for t in tables if t != table]) as user:
        done = check_config(tmp_path, {**source, "url": user.url})
        grant = user.grant_statement(table)
    assert done.exit_code == 2, done.output
    assert grant in done.stderr, done.stderr


def _names(text: str, table: str, user: Reader) -> bool:
    """Whether ``text`` names ``table`` as unreadable with its grant, or as missing."""
    return user.grant_statement(table) in text or f"table {table} does not exist" in text
