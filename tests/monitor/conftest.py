"""Fixtures shared by the daemon's store tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from monitor.store.engine import migrate, open_store


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ]
)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """A freshly migrated history store on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/history.db"
    elif request.param == "postgres":
        url = request.getfixturevalue("pg_database")
    else:
        url = request.getfixturevalue("mariadb_database")
    store = open_store(url)
    migrate(store)
    yield store
    store.dispose()
