"""Fixtures for the SQL collector tests: the real ServiceNow fixture and ticket databases.

The ticket table is filled from ``monitor/demo/data/servicenow_incidents.csv.gz`` as it
stood at an as-of instant: incidents opened before it, ``resolved_at`` set (and the
state ``resolved``) only for those resolved before it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from collectors.sql import SqlCollector, SqlSourceConfig

FIXTURE = "servicenow_incidents.csv.gz"

metadata = sa.MetaData()
tickets = sa.Table(
    "tickets",
    metadata,
    sa.Column("number", sa.String(20), primary_key=True),
    sa.Column("assignment_group", sa.String(40), nullable=False),
    sa.Column("priority", sa.String(20), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("opened_at", sa.DateTime, nullable=False),
    sa.Column("resolved_at", sa.DateTime, nullable=True),
)

DEFAULT_MAPPING: dict[str, Any] = {
    "table": "tickets",
    "id": "number",
    "queue": "assignment_group",
    "status": "state",
    "priority": "priority",
    "created_at": "opened_at",
    "resolved_at": "resolved_at",
    "open_statuses": ["open"],
}


@pytest.fixture(scope="session")
def incidents() -> pd.DataFrame:
    """Every incident of the real fixture: number, assignment_group, priority, opened/resolved."""
    source = resources.files("monitor.demo").joinpath("data", FIXTURE)
    with source.open("rb") as raw:
        frame = pd.read_csv(raw, compression="gzip", dtype=str, keep_default_na=False)
    return pd.DataFrame(
        {
            "number": frame["ticket_id"],
            "assignment_group": frame["queue"],
            "priority": frame["priority"],
            "opened_at": pd.to_datetime(frame["opened_at"], format="%Y-%m-%d %H:%M:%S"),
            "resolved_at": pd.to_datetime(
                frame["resolved_at"].replace("", None), format="%Y-%m-%d %H:%M:%S"
            ),
        }
    )


def store_state(incidents: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    """The ticket table as the help desk held it at the naive local instant ``as_of``."""
    cut = pd.Timestamp(as_of)
    seen = incidents[incidents["opened_at"] < cut].copy()
    done = seen["resolved_at"] < cut
    seen["resolved_at"] = seen["resolved_at"].where(done)
    seen["state"] = done.map({True: "resolved", False: "open"})
    return seen.reset_index(drop=True)


def with_tickets(table: pd.DataFrame, *extra: dict[str, Any]) -> pd.DataFrame:
    """``table`` plus hand-placed tickets (dicts with the table's columns)."""
    added = pd.DataFrame(list(extra), columns=list(table.columns))
    added["opened_at"] = pd.to_datetime(added["opened_at"])
    added["resolved_at"] = pd.to_datetime(added["resolved_at"])
    return pd.concat([table, added], ignore_index=True)


def table_rows(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Plain Python rows (datetime or None) for an INSERT."""
    return [
        {
            "number": r.number,
            "assignment_group": r.assignment_group,
            "priority": r.priority,
            "state": r.state,
            "opened_at": r.opened_at.to_pydatetime(),
            "resolved_at": None if pd.isna(r.resolved_at) else r.resolved_at.to_pydatetime(),
        }
        for r in table.itertuples(index=False)
    ]


@pytest.fixture(
    params=[
        pytest.param("sqlite"),
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ]
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each of the three engines."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/tickets.db"
    fixture = "pg_database" if request.param == "postgresql" else "mariadb_database"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
def writer(db_url: str) -> Iterator[sa.Engine]:
    """A read-write engine on the test database (the collector gets its own)."""
    engine = sa.create_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def load_tickets(writer: sa.Engine) -> Callable[[pd.DataFrame], None]:
    """Create the ticket table and fill it with ``table``'s rows."""

    def load(table: pd.DataFrame) -> None:
        metadata.create_all(writer)
        with writer.begin() as conn:
            conn.execute(tickets.insert(), table_rows(table))

    return load


def sql_config(url: str, **mapping: Any) -> SqlSourceConfig:
    """A ``kind: sql`` source on ``url``; a mapping key set to None is left out."""
    merged = {**DEFAULT_MAPPING, **mapping}
    return SqlSourceConfig.model_validate(
        {
            "kind": "sql",
            "name": "servicenow",
            "url": url,
            "timeout": "5s",
            "mapping": {k: v for k, v in merged.items() if v is not None},
        }
    )


@pytest.fixture
def make_collector() -> Iterator[Callable[..., SqlCollector]]:
    """Build collectors from a URL and mapping overrides; closes them after the test."""
    made: list[SqlCollector] = []

    def make(url: str, **mapping: Any) -> SqlCollector:
        collector = SqlCollector(sql_config(url, **mapping))
        made.append(collector)
        return collector

    yield make
    for collector in made:
        collector.close()


@pytest.fixture(autouse=True)
def _fresh_github_budgets() -> Iterator[None]:
    """GitHub sources of one token share a budget within a process: none across tests."""
    from collectors.github import forget_budgets

    forget_budgets()
    yield
    forget_budgets()
