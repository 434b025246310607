"""Fresh databases on the real engines, transcribed schemas applied, rows inserted."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from tests.conftest import MARIADB_ADMIN_URL, PG_ADMIN_URL, require_service

HERE = Path(__file__).resolve().parent


@contextmanager
def fresh_mariadb() -> Iterator[str]:
    """A uniquely named, empty MariaDB database (dropped afterwards); yields its URL."""
    admin = require_service("MariaDB", MARIADB_ADMIN_URL)
    name = f"t_up_{uuid.uuid4().hex[:10]}"
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    try:
        url = sa.engine.make_url(MARIADB_ADMIN_URL).set(database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP DATABASE `{name}`"))
        admin.dispose()


@contextmanager
def fresh_postgres() -> Iterator[str]:
    """A uniquely named, empty PostgreSQL schema (dropped afterwards); yields a URL on it."""
    admin = require_service("PostgreSQL", PG_ADMIN_URL)
    schema = f"t_up_{uuid.uuid4().hex[:10]}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = sa.engine.make_url(PG_ADMIN_URL).update_query_dict(
            {"options": f"-csearch_path={schema}"}
        )
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def run(conn: sa.Connection, script: list[str]) -> None:
    """Execute DDL statements as they are (no bind parameters are parsed)."""
    for statement in script:
        conn.exec_driver_sql(statement.replace("%", "%%"))


def insert(conn: sa.Connection, table: str, rows: pd.DataFrame) -> None:
    """Insert a frame's rows; NaN/NaT become NULL, timestamps plain datetimes."""
    if rows.empty:
        return
    columns = list(rows.columns)
    quote = conn.dialect.identifier_preparer.quote
    statement = sa.text(
        f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c in columns)})"
        f" VALUES ({', '.join(':' + c for c in columns)})"
    )
    conn.execute(statement, [_plain(r) for r in rows.to_dict("records")])


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in row.items():
        if isinstance(value, pd.Timestamp):
            value = value.to_pydatetime()
        elif value is not None and not isinstance(value, str) and pd.isna(value):
            value = None
        elif hasattr(value, "item"):  # numpy scalars
            value = value.item()
        out[key] = value
    return out


def load(url: str, script: list[str], tables: Mapping[str, pd.DataFrame], setup: str = "") -> None:
    """Apply ``script`` then insert ``tables`` in order, in one transaction."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            if setup:
                conn.exec_driver_sql(setup)
            run(conn, script)
            for table, rows in tables.items():
                insert(conn, table, rows)
        with engine.begin() as conn:
            # a live database has planner statistics (autovacuum); a bulk-loaded one not yet
            if conn.dialect.name == "postgresql":
                for table in tables:
                    conn.exec_driver_sql(f"ANALYZE {conn.dialect.identifier_preparer.quote(table)}")
    finally:
        engine.dispose()
