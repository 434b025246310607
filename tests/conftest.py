"""Shared fixtures. Real services: PostgreSQL and MariaDB on 127.0.0.1.

When ``CI=true`` a test whose service is missing fails; elsewhere it is skipped.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest
import sqlalchemy as sa
from hypothesis import settings as hypothesis_settings

from monitor.store.engine import migrate, open_store
from tests.fakes import T0, FakeClock, RecordingReceiver
from tests.processes import free_port

if TYPE_CHECKING:
    from tests.livedemo import LiveDemo

PG_ADMIN_URL = os.environ.get(
    "BACKLOG_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MARIADB_ADMIN_URL = os.environ.get(
    "BACKLOG_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
)
IN_CI = os.environ.get("CI", "").lower() == "true"


def missing(message: str) -> NoReturn:
    """A required service, binary or data file is missing: fail under CI=true, else skip."""
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def require_binary(*names: str, hint: str) -> str:
    """The first of ``names`` on PATH, or :func:`missing` (``hint``: how to install)."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    missing(f"none of {', '.join(names)} is on PATH; {hint}")


def require_service(name: str, url: str) -> sa.Engine:
    """An engine on a reachable service, or skip (fail under CI=true)."""
    engine = sa.create_engine(url, pool_pre_ping=True)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as err:
        engine.dispose()
        missing(f"{name} is not reachable at {url}: {str(err).splitlines()[0]}")
    return engine


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[sa.Engine]:
    """A migrated SQLite history store in a temporary folder."""
    engine = open_store(f"sqlite:///{tmp_path}/history.db")
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def receiver() -> Iterator[RecordingReceiver]:
    server = RecordingReceiver()
    yield server
    server.close()


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL schema; yields a URL whose search_path points at it."""
    admin = require_service("PostgreSQL", PG_ADMIN_URL)
    schema = f"t_{uuid.uuid4().hex[:10]}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = sa.engine.make_url(PG_ADMIN_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def mariadb_database() -> Iterator[str]:
    """A fresh, empty MariaDB database; yields its URL."""
    admin = require_service("MariaDB", MARIADB_ADMIN_URL)
    name = f"t_{uuid.uuid4().hex[:10]}"
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE DATABASE `{name}`"))
    url = sa.engine.make_url(MARIADB_ADMIN_URL).set(database=name)
    yield url.render_as_string(hide_password=False)
    with admin.begin() as conn:
        conn.execute(sa.text(f"DROP DATABASE `{name}`"))
    admin.dispose()


@pytest.fixture(scope="session")
def live_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveDemo]:
    """The demo held at Monday 16:30 (tests/livedemo.py), scraped by a real Prometheus
    since before its first step; shared by the dashboard and the status page tests."""
    # Imported here: tests.prometheus imports require_binary from this module.
    from tests.livedemo import LiveDemo
    from tests.prometheus import running_prometheus

    port = free_port()
    root = tmp_path_factory.mktemp("prometheus")
    with running_prometheus(root, [f"127.0.0.1:{port}"]) as prometheus:
        demo = LiveDemo(tmp_path_factory.mktemp("live-demo"), port, prometheus)
        demo.start()
        try:
            yield demo
        finally:
            demo.finish()


# Hypothesis (the fuzz tests): under CI=true every run draws the same examples, so a
# failure there is reproducible and never flaky; elsewhere each run explores new ones.
hypothesis_settings.register_profile("ci", derandomize=True, database=None)
if IN_CI:
    hypothesis_settings.load_profile("ci")
