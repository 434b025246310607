"""Opening a help desk's database safely: read-only sessions, a statement timeout, clean errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import event, exc

from monitor.errors import (
    AuthFailed,
    CollectorError,
    MappingError,
    PermissionDenied,
    SourceUnavailable,
)

_AUTH_MARKERS = ("password authentication failed", "access denied", "authentication failed")
_SQLITE_MAPPING_MARKERS = ("no such", "syntax error", "incomplete input", "unrecognized token")
"""SQLite reports unknown tables, columns, functions and bad SQL as OperationalError."""
_MYSQL_MAPPING_CODES = frozenset({1054, 1064, 1146, 1305})
"""MySQL/MariaDB: unknown column, SQL syntax, no such table, no such function. PyMySQL
raises some of these (1054, 1305) as OperationalError, like a lost connection."""
_MYSQL_DENIED_CODES = frozenset({1142, 1143})
"""MySQL/MariaDB: SELECT denied on a table / a column. A user without database-wide
rights gets 1142 for a table that does not exist too: the server does not tell them apart."""
_PG_MISSING, _PG_DENIED = "42P01", "42501"
"""PostgreSQL SQLSTATEs: undefined_table, insufficient_privilege."""

Access = Literal["missing", "denied"]


def open_engine(url: str, timeout: timedelta, session_time_zone: str | None = None) -> sa.Engine:
    """Create an engine whose sessions are read-only and time-limited.

    No connection is made here; the first poll connects.
    """
    seconds = max(1, int(timeout.total_seconds()))
    parsed = sa.engine.make_url(url)
    connect_args: dict[str, Any] = {}
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        connect_args["connect_timeout"] = seconds
    elif backend in ("mysql", "mariadb"):
        connect_args["connect_timeout"] = seconds
        connect_args["read_timeout"] = seconds + 5
    elif backend == "sqlite":
        connect_args["timeout"] = seconds
    engine = (
        sa.create_engine(
            parsed, pool_pre_ping=True, pool_size=1, max_overflow=1, connect_args=connect_args
        )
        if backend != "sqlite"
        else sa.create_engine(parsed, connect_args=connect_args)
    )
    event.listen(engine, "connect", _session_setup(backend, seconds, session_time_zone))
    return engine


def _session_setup(backend: str, seconds: int, time_zone: str | None) -> Any:
    def setup(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            if backend == "postgresql":
                cursor.execute(f"SET statement_timeout = {seconds * 1000}")
                cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                if time_zone:
                    cursor.execute("SELECT set_config('TimeZone', %s, false)", (time_zone,))
            elif backend in ("mysql", "mariadb"):
                cursor.execute("SET SESSION TRANSACTION READ ONLY")
                _mysql_statement_timeout(cursor, seconds)
                if time_zone:
                    cursor.execute("SET time_zone = %s", (time_zone,))
            elif backend == "sqlite":
                cursor.execute("PRAGMA query_only = ON")
        finally:
            cursor.close()
        if backend == "postgresql":
            dbapi_connection.commit()

    return setup


def _mysql_statement_timeout(cursor: Any, seconds: int) -> None:
    """MariaDB calls it ``max_statement_time`` (seconds), MySQL ``max_execution_time`` (ms)."""
    cursor.execute("SELECT VERSION()")
    version = str(cursor.fetchone()[0]).lower()
    if "mariadb" in version:
        cursor.execute(f"SET SESSION max_statement_time = {seconds}")
    else:
        cursor.execute(f"SET SESSION max_execution_time = {seconds * 1000}")


@contextmanager
def translate_db_error(source: str) -> Iterator[None]:
    """Turn driver errors into collector errors, without the connection URL in them."""
    try:
        yield
    except exc.SQLAlchemyError as err:
        raise classify(source, err) from None


def classify(source: str, err: exc.SQLAlchemyError) -> CollectorError:
    """The collector error a driver error stands for (its message without the URL)."""
    message = first_line(err)
    if isinstance(err, exc.DBAPIError) and access_problem(err) == "denied":
        return PermissionDenied(f"{source}: {message}")
    if isinstance(err, exc.ProgrammingError | exc.NoSuchTableError):
        return MappingError(f"{source}: {message}")
    if isinstance(err, exc.DBAPIError):
        if any(marker in message.lower() for marker in _AUTH_MARKERS):
            return AuthFailed(f"{source}: {message}")
        if _is_mapping_error(err, message):
            return MappingError(f"{source}: {message}")
    return SourceUnavailable(f"{source}: {message}")


def access_problem(err: exc.DBAPIError) -> Access | None:
    """Whether a statement failed on a table that does not exist or may not be read."""
    orig = getattr(err, "orig", None)
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int):  # PyMySQL: (code, message), and a generic sqlstate
        code = args[0]
        return "missing" if code == 1146 else "denied" if code in _MYSQL_DENIED_CODES else None
    state = getattr(orig, "sqlstate", None)
    if state is not None:  # psycopg
        return "missing" if state == _PG_MISSING else "denied" if state == _PG_DENIED else None
    return "missing" if "no such table" in first_line(err).lower() else None


def _is_mapping_error(err: exc.DBAPIError, message: str) -> bool:
    """Whether a driver error is about the mapped schema or SQL rather than the connection."""
    args = getattr(err.orig, "args", ())
    if args and isinstance(args[0], int) and args[0] in _MYSQL_MAPPING_CODES:
        return True
    return isinstance(err, exc.OperationalError) and any(
        marker in message.lower() for marker in _SQLITE_MAPPING_MARKERS
    )


def first_line(err: BaseException) -> str:
    """The first line of a driver error's own message (never the connection URL)."""
    orig = getattr(err, "orig", None)
    text = str(orig if orig is not None else err).strip()
    return text.splitlines()[0] if text else type(err).__name__
