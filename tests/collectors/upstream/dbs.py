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
    create, drop = "CREATE DATABASE `{}` CHARACTER SET utf8mb4", "DROP DATABASE `{}`"
    with _fresh("MariaDB", MARIADB_ADMIN_URL, create, drop) as name:
        yield sa.engine.make_url(MARIADB_ADMIN_URL).set(database=name).render_as_string(False)


@contextmanager
def fresh_postgres() -> Iterator[str]:
    """A uniquely named, empty PostgreSQL schema (dropped afterwards); yields a URL on it."""
    create, drop = 'CREATE SCHEMA "{}"', 'DROP SCHEMA "{}" CASCADE'
    with _fresh("PostgreSQL", PG_ADMIN_URL, create, drop) as name:
        url = sa.engine.make_url(PG_ADMIN_URL)
        yield url.update_query_dict({"options": f"-csearch_path={name}"}).render_as_string(False)


@contextmanager
def _fresh(service: str, admin_url: str, create: str, drop: str) -> Iterator[str]:
    """Run ``create`` for a unique name (``{}``), yield the name, run ``drop`` after:
    other people test on the same servers, so every run has its own namespace."""
    admin = require_service(service, admin_url)
    name = f"t_up_{uuid.uuid4().hex[:10]}"
    with admin.begin() as conn:
        conn.exec_driver_sql(create.format(name))
    try:
        yield name
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(drop.format(name))
        admin.dispose()


def run(conn: sa.Connection, script: list[str]) -> None:
    """Execute DDL statements as they are (no bind parameters are parsed)."""
    for statement in script:
        conn.exec_driver_sql(statement.replace("%", "%%"))


def insert(conn: sa.Connection, table: str, rows: pd.DataFrame) -> None:
    """Insert a frame's rows: PostgreSQL's COPY, else the driver's executemany. Tens of
    thousands of rows: SQLAlchemy's per-row parameter handling would cost more than the
    database does."""
    if rows.empty:
        return
    quote = conn.dialect.identifier_preparer.quote
    target = f"{quote(table)} ({', '.join(quote(c) for c in rows.columns)})"
    if conn.dialect.name == "postgresql":
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor, cursor.copy(f"COPY {target} FROM STDIN") as copy:
            for record in records(rows):
                copy.write_row(record)
        return
    values = ", ".join(["%s"] * len(rows.columns))
    conn.exec_driver_sql(f"INSERT INTO {target} VALUES ({values})", records(rows))


def records(rows: pd.DataFrame) -> list[tuple[Any, ...]]:
    """A frame as DB-API tuples: NaN/NaT/NA are None, timestamps plain datetimes, numpy
    scalars Python ones, and float columns holding only whole numbers (integers that
    pandas widened to float for a NaN) integers."""
    columns = []
    for name in rows.columns:
        column = rows[name]
        if pd.api.types.is_datetime64_any_dtype(column):
            values = list(column.dt.to_pydatetime())
        elif pd.api.types.is_float_dtype(column) and (column.dropna() % 1 == 0).all():
            values = column.fillna(0).astype("int64").tolist()
        elif column.dtype == object:  # may mix text (osTicket's zero dates) and timestamps
            values = [
                v.to_pydatetime() if isinstance(v, pd.Timestamp) else v for v in column.tolist()
            ]
        else:
            values = column.tolist()
        missing = column.isna().tolist()
        columns.append([None if m else v for v, m in zip(values, missing, strict=True)])
    return list(zip(*columns, strict=True))


def load(
    url: str,
    script: list[str],
    tables: Mapping[str, pd.DataFrame],
    setup: str = "",
    finish: tuple[str, ...] = (),
) -> None:
    """Run ``setup``, apply ``script``, insert ``tables`` in order, then run ``finish``
    (what the product builds from the rows), in one transaction."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            if setup:
                conn.exec_driver_sql(setup)
            run(conn, script)
            for table, rows in tables.items():
                insert(conn, table, rows)
            run(conn, list(finish))
        with engine.begin() as conn:
            # a live database has planner statistics (autovacuum); a bulk-loaded one not yet
            if conn.dialect.name == "postgresql":
                for table in tables:
                    conn.exec_driver_sql(f"ANALYZE {conn.dialect.identifier_preparer.quote(table)}")
    finally:
        engine.dispose()
