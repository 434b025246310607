"""Opening the history store and bringing its schema up to date with Alembic."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, exc

from monitor.errors import StoreError

_MIGRATIONS = Path(__file__).with_name("migrations")

MIGRATION_LOCK = 0x6261636B6C6F67  # "backlog": the advisory lock held while migrating


def open_store(url: str) -> sa.Engine:
    """Create the engine for the history store (no migration; see :func:`migrate`)."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(parsed, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


def migrate(engine: sa.Engine) -> str:
    """Apply every pending migration; returns the schema revision now in place.

    Raises:
        StoreError: the store cannot be reached or migrated.
    """
    config = _alembic_config()
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Replicas starting together migrate one after the other (until commit).
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK)))
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
        return current_revision(engine) or ""
    except exc.SQLAlchemyError as err:
        raise StoreError(f"cannot migrate the history store: {describe(err)}") from None


def describe(err: exc.SQLAlchemyError) -> str:
    """A store error in one line: its class and the driver's first line (no SQL, no URL)."""
    return f"{err.__class__.__name__}: {str(getattr(err, 'orig', err)).splitlines()[0]}"


def current_revision(engine: sa.Engine) -> str | None:
    """The schema revision recorded in the store, or None before the first migration."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    """The newest revision this version of the code knows."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head
