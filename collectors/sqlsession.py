"""Opening a help desk's database safely: read-only sessions, a statement timeout, clean errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, exc

from monitor.errors import AuthFailed, MappingError, SourceUnavailable

_AUTH_MARKERS = ("password authentication failed", "access denied", "authentication failed")
_SQLITE_MAPPING_MARKERS = ("no such", "syntax error", "incomplete input", "unrecognized token")
"""SQLite reports unknown tables, columns, functions and bad SQL as OperationalError."""
_MYSQL_MAPPING_CODES = frozenset({1054, 1064, 1146, 1305})
"""MySQL/MariaDB: unknown column, SQL syntax, no such table, no such function. PyMySQL
raises some of these (1054, 1305) as OperationalError, like a lost connection."""


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
    except (exc.ProgrammingError, exc.NoSuchTableError) as err:
        raise MappingError(f"{source}: {_first_line(err)}") from None
    except exc.DBAPIError as err:
        message = _first_line(err)
        if any(marker in message.lower() for marker in _AUTH_MARKERS):
            raise AuthFailed(f"{source}: {message}") from None
        if _is_mapping_error(err, message):
            raise MappingError(f"{source}: {message}") from None
        raise SourceUnavailable(f"{source}: {message}") from None
    except exc.SQLAlchemyError as err:
        raise SourceUnavailable(f"{source}: {_first_line(err)}") from None


def _is_mapping_error(err: exc.DBAPIError, message: str) -> bool:
    """Whether a driver error is about the mapped schema or SQL rather than the connection."""
    args = getattr(err.orig, "args", ())
    if args and isinstance(args[0], int) and args[0] in _MYSQL_MAPPING_CODES:
        return True
    return isinstance(err, exc.OperationalError) and any(
        marker in message.lower() for marker in _SQLITE_MAPPING_MARKERS
    )


def _first_line(err: BaseException) -> str:
    orig = getattr(err, "orig", None)
    text = str(orig if orig is not None else err).strip()
    return text.splitlines()[0] if text else type(err).__name__
