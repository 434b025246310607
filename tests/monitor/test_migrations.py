"""The Alembic migrations build exactly the tables the code declares."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from monitor.store.engine import current_revision, head_revision, migrate, open_store
from monitor.store.schema import metadata


def _differences(engine: sa.Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        return list(compare_metadata(context, metadata))


class TestMigrations:
    def test_sqlite_matches_the_declared_schema(self, tmp_path: Path) -> None:
        """Migrating an empty SQLite store leaves no difference with schema.py."""
        engine = open_store(f"sqlite:///{tmp_path}/h.db")
        assert migrate(engine) == head_revision()
        assert _differences(engine) == []
        engine.dispose()

    @pytest.mark.postgres
    def test_postgresql_matches_the_declared_schema(self, pg_database: str) -> None:
        """Migrating an empty PostgreSQL schema leaves no difference with schema.py."""
        engine = open_store(pg_database)
        migrate(engine)
        assert current_revision(engine) == head_revision()
        assert _differences(engine) == []
        engine.dispose()

    def test_migrating_twice_is_harmless(self, tmp_path: Path) -> None:
        """A second start finds nothing to do."""
        engine = open_store(f"sqlite:///{tmp_path}/h.db")
        migrate(engine)
        assert migrate(engine) == head_revision()
        engine.dispose()
