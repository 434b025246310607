"""``snapshot --as-of``: the figures of past instants, reconstructed by the SQL collector,
equal a pandas computation over the same real tickets, on SQLite, PostgreSQL and MariaDB.

The ticket table holds the real ServiceNow incidents as the help desk held them on
15 May 2016 (``store_state``), plus hand-placed tickets for the edge cases: open now,
resolved before it was created, closed without a resolution time, open again with a
stale resolution stamp (RT, Zammad), and without a creation time.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner

from monitor.cli import main
from tests.collectors import asof
from tests.collectors.conftest import DEFAULT_MAPPING, store_state, tickets

NOW = datetime(2016, 5, 15)
"""The store's state: naive local time of the help desk (the zone of the test)."""

INSTANTS = (
    datetime(2016, 3, 15, tzinfo=UTC),
    datetime(2016, 4, 1, 9, 30, tzinfo=UTC),
    datetime(2016, 5, 2, 12, tzinfo=UTC),
    datetime(2016, 5, 14, 23, tzinfo=UTC),
)
WINDOW = timedelta(days=1)
SAO_PAULO = "America/Sao_Paulo"

metadata = sa.MetaData()
table = sa.Table(
    "as_of_tickets",
    metadata,
    # the fixture's ticket table, with creation times that may be NULL
    *(
        sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.name != "number")
        for c in tickets.columns
    ),
)

EDGE_CASES: tuple[dict[str, Any], ...] = (
    # open now, resolved_at empty
    {"number": "EDGE1", "state": "open", "opened_at": "2016-04-28 10:00", "resolved_at": None},
    # resolved before it was created (clock skew, imports): never open
    {
        "number": "EDGE2",
        "state": "resolved",
        "opened_at": "2016-05-02 08:00",
        "resolved_at": "2016-05-01 20:00",
    },
    # closed without a resolution time: never open
    {"number": "EDGE3", "state": "resolved", "opened_at": "2016-04-30 09:00", "resolved_at": None},
    # open again, the old resolution stamp kept (RT, Zammad): open since creation
    {
        "number": "EDGE4",
        "state": "open",
        "opened_at": "2016-04-29 07:00",
        "resolved_at": "2016-05-01 07:00",
    },
    # no creation time: never counted open or created
    {"number": "EDGE5", "state": "open", "opened_at": None, "resolved_at": None},
)


def ticket_table(incidents: pd.DataFrame) -> pd.DataFrame:
    """The store on :data:`NOW` plus :data:`EDGE_CASES` (in queue ``Edge``)."""
    state = store_state(incidents, NOW)
    edges = pd.DataFrame(
        [{"assignment_group": "Edge", "priority": "3 - Moderate", **e} for e in EDGE_CASES]
    )
    for column in ("opened_at", "resolved_at"):
        edges[column] = pd.to_datetime(edges[column])
    return pd.concat([state, edges[list(state.columns)]], ignore_index=True)


def frame_of(tickets: pd.DataFrame, zone: str) -> pd.DataFrame:
    """The table as :mod:`tests.collectors.asof` reads it (times made aware in ``zone``)."""
    return pd.DataFrame(
        {
            "queue": tickets["assignment_group"],
            "status": tickets["state"],
            "priority": tickets["priority"],
            "open_now": tickets["state"] == "open",
            "created": asof.utc(tickets["opened_at"], zone),
            "resolved": asof.utc(tickets["resolved_at"], zone),
        }
    )


def load(url: str, tickets: pd.DataFrame) -> None:
    engine = sa.create_engine(url)
    try:
        metadata.create_all(engine)
        rows = [
            {
                k: (None if pd.isna(v) else v.to_pydatetime() if isinstance(v, pd.Timestamp) else v)
                for k, v in r.items()
            }
            for r in tickets.to_dict("records")
        ]
        with engine.begin() as conn:
            conn.execute(table.insert(), rows)
    finally:
        engine.dispose()


def write_config(path: Path, url: str, zone: str) -> Path:
    mapping = {**DEFAULT_MAPPING, "table": "as_of_tickets", "timezone": zone}
    source = {"kind": "sql", "name": "tickets", "url": url, "timeout": "20s", "mapping": mapping}
    path.write_text(yaml.safe_dump({"sources": [source]}), encoding="utf-8")
    return path


Snap = Callable[..., dict[str, Any]]


@pytest.fixture
def snap(tmp_path: Path) -> Snap:
    """Run ``backlog-monitor snapshot --format json`` and return the parsed document."""

    def run(config: Path, *extra: str) -> dict[str, Any]:
        args = ["snapshot", "--config", str(config), "--source", "tickets", "--format", "json"]
        result = CliRunner().invoke(main, [*args, *extra])
        assert result.exit_code == 0, result.output
        parsed: dict[str, Any] = json.loads(result.output)
        return parsed

    return run


def comparable(figures: dict[str, Any]) -> dict[str, Any]:
    keys = ("open", "open_by_status_priority", "created", "resolved", "oldest_age_s")
    out = {k: figures[k] for k in keys}
    out["older_than"] = figures["older_than"]
    out["age_quantiles"] = figures["age_quantiles"]
    return out


@pytest.mark.parametrize("zone", ["UTC", SAO_PAULO])
def test_as_of_equals_pandas_at_several_instants(
    db_url: str, incidents: pd.DataFrame, tmp_path: Path, snap: Snap, zone: str
) -> None:
    tickets = ticket_table(incidents)
    load(db_url, tickets)
    config = write_config(tmp_path / "c.yaml", db_url, zone)
    frame = frame_of(tickets, zone)
    for instant in INSTANTS:
        got = snap(config, "--as-of", instant.isoformat(), "--window", "1d")
        want = asof.snapshot(frame, instant, WINDOW)
        assert got["historical"] is True
        assert got["as_of"] == instant.isoformat()
        assert {q: comparable(f) for q, f in got["queues"].items()} == {
            q: f for q, f in want.items() if q != "__total__"
        }, instant
        assert comparable(got["total"]) == want["__total__"], instant


def test_reconstruction_agrees_with_the_log(incidents: pd.DataFrame) -> None:
    """The rule of :mod:`tests.collectors.asof`, applied to the store of 15 May, gives the
    backlog the real log had at each instant (opened before, not resolved before)."""
    frame = frame_of(store_state(incidents, NOW), "UTC")
    for instant in INSTANTS:
        t = pd.Timestamp(instant).tz_localize(None)
        truth = (incidents["opened_at"] < t) & ~(incidents["resolved_at"] < t)
        assert int(asof.open_at(frame, instant).sum()) == int(truth.sum()) > 500


def test_edge_cases_follow_the_documented_rule(incidents: pd.DataFrame) -> None:
    """The pandas rule itself, on the hand-placed tickets (so the SQL comparison above
    covers each case): which are open on 1 May 2016 at 12:00 UTC and 3 May."""
    frame = frame_of(ticket_table(incidents), "UTC")
    edges = frame[frame["queue"] == "Edge"]
    first = asof.open_at(edges, datetime(2016, 5, 1, 12, tzinfo=UTC))
    assert list(first) == [True, False, False, True, False]
    later = asof.open_at(edges, datetime(2016, 5, 3, tzinfo=UTC))
    assert list(later) == [True, False, False, True, False]


def test_live_without_as_of(
    db_url: str, incidents: pd.DataFrame, tmp_path: Path, snap: Snap
) -> None:
    """Without --as-of it is the live poll: open means open now (EDGE5 included)."""
    tickets = ticket_table(incidents)
    load(db_url, tickets)
    got = snap(write_config(tmp_path / "c.yaml", db_url, "UTC"))
    assert got["historical"] is False
    assert got["total"]["open"] == int((tickets["state"] == "open").sum())
    assert got["queues"]["Edge"]["open"] == 3


def test_unknown_source_is_a_config_error(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yaml", f"sqlite:///{tmp_path}/t.db", "UTC")
    result = CliRunner().invoke(main, ["snapshot", "--config", str(config), "--source", "nope"])
    assert result.exit_code == 2
    assert "no source named 'nope'" in result.output
