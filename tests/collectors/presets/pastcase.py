"""What the past-state tests (Znuny, RT, Zammad, GLPI, osTicket:
``test_past_state*.py``) share: the instants and window read, the tables' common shape,
loading the rows into the test database, reading the collector as of each instant in the
shape pandas gives, and the "last change before, else first change after, else today's"
rule of RT and Zammad."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from collectors.base import Window
from collectors.sql import SqlCollector, SqlSourceConfig
from monitor.snapshot import as_json
from tests.collectors.upstream import dbs

INSTANTS = (
    datetime(2016, 3, 20, 12, tzinfo=UTC),
    datetime(2016, 3, 30, 9, 30, tzinfo=UTC),
    datetime(2016, 4, 2, 18, tzinfo=UTC),
)
WINDOW = timedelta(days=1)


def named_table(
    metadata: sa.MetaData,
    name: str,
    *columns: sa.Column[Any],
    id_type: type[sa.types.TypeEngine[int]] = sa.Integer,
    length: int = 200,
) -> sa.Table:
    """A table of ``id`` (primary key) and ``name``, then ``columns``."""
    return sa.Table(
        name,
        metadata,
        sa.Column("id", id_type, primary_key=True),
        sa.Column("name", sa.String(length)),
        *columns,
    )


def load(db_url: str, metadata: sa.MetaData, rows: dict[str, pd.DataFrame]) -> None:
    """Create ``metadata``'s tables in the database and insert ``rows`` (per table).

    On MariaDB and PostgreSQL the tables are then analysed, as a help desk's long-lived
    tables are: read right after the bulk insert, osTicket's backfill per department
    (the history path's correlated lookups) ran for over 10 minutes on MariaDB, and for
    2 s on the same rows once MariaDB had computed the tables' statistics; GLPI's groups
    as of an instant exceeded the tests' 60 s statement timeout on PostgreSQL, whose
    estimate for ``glpi_logs`` rows of a ticket was 4 against 20,159 read."""
    engine = sa.create_engine(db_url)
    try:
        metadata.create_all(engine)
        with engine.begin() as conn:
            for name, frame in rows.items():
                records = [dict(zip(frame.columns, r, strict=True)) for r in dbs.records(frame)]
                conn.execute(metadata.tables[name].insert(), records)
        if engine.dialect.name in ("mysql", "mariadb"):
            with engine.begin() as conn:
                conn.exec_driver_sql(f"ANALYZE TABLE {', '.join(metadata.tables)}").all()
        elif engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.exec_driver_sql(f"ANALYZE {', '.join(metadata.tables)}")
    finally:
        engine.dispose()


SERVERS = (
    pytest.param("postgresql", marks=pytest.mark.postgres),
    pytest.param("mariadb", marks=pytest.mark.mariadb),
)
"""The databases of the presets whose labels use ``CONCAT`` (GLPI, osTicket), which
SQLite 3.40 does not have: the ``params`` of their database fixture."""


def loaded_on_server(
    request: pytest.FixtureRequest, metadata: sa.MetaData, rows: dict[str, pd.DataFrame]
) -> str:
    """The URL of a fresh database of ``request.param`` (one of :data:`SERVERS`) holding
    ``rows``."""
    url: str = request.getfixturevalue(
        "pg_database" if request.param == "postgresql" else "mariadb_database"
    )
    load(url, metadata, rows)
    return url


def drop_table(url: str, name: str) -> None:
    """Drop one table (a history table a test takes away)."""
    writer = sa.create_engine(url)
    try:
        with writer.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE {name}"))
    finally:
        writer.dispose()


def collector(url: str, **mapping: Any) -> SqlCollector:
    """The SQL source over ``url`` with the ``znuny`` preset unless ``mapping`` names one."""
    source = {
        "kind": "sql",
        "name": "znuny",
        "url": url,
        "timeout": "60s",
        "mapping": {"preset": "znuny", **mapping},
    }
    return SqlCollector(SqlSourceConfig.model_validate(source))


def comparable(figures: dict[str, Any]) -> dict[str, Any]:
    keys = ("open", "open_by_status_priority", "created", "resolved", "oldest_age_s")
    return {k: figures[k] for k in (*keys, "older_than", "age_quantiles")}


def measured(collector: SqlCollector, instant: datetime) -> dict[str, Any]:
    """The collector's figures as of ``instant`` per queue and ``__total__``."""
    snapshot = collector.collect(Window(instant - WINDOW, instant, historical=True))
    doc = json.loads(as_json(snapshot))
    out = {q: comparable(f) for q, f in doc["queues"].items()}
    out["__total__"] = comparable(doc["total"])
    return out


def measured_at_instants(url: str, **mapping: Any) -> dict[datetime, dict[str, Any]]:
    """:func:`measured` at each of :data:`INSTANTS` by one :func:`collector`."""
    reader = collector(url, **mapping)
    try:
        return {instant: measured(reader, instant) for instant in INSTANTS}
    finally:
        reader.close()


def as_of(changes: pd.DataFrame, current: pd.Series, cut: pd.Timestamp) -> pd.Series:
    """Per ticket of ``current``: the value entered by the last change before ``cut``,
    else the value left by the first change at or after it, else ``current``'s."""
    before = changes[changes["created"] < cut].groupby("objectid")["newvalue"].last()
    after = changes[changes["created"] >= cut].groupby("objectid")["oldvalue"].first()
    return before.reindex(current.index).fillna(after.reindex(current.index)).fillna(current)
