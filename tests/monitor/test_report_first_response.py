"""First-response time in the weekly report: median and p90 per queue and overall, against
pandas over the real ServiceNow tickets; absent where the store records no first response."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from config.loader import load_settings
from monitor.report.build import Report
from monitor.report.command import make_report
from monitor.report.render import csv_files, markdown
from tests.collectors import workload_data as data
from tests.collectors.test_workload import AS_OF, NOW
from tests.monitor.test_report import (  # noqa: F401 (fixtures)
    PERIOD,
    START,
    nearest,
    report,
    settings_text,
    tickets,
)

FIRST_RESPONSE = (
    "(SELECT MIN(f.changed_at) FROM incident_history f WHERE f.number = t.number"
    " AND f.new_state IS NOT NULL AND f.new_state <> 'New')"
)
"""When the incident first left New: its first status change in the real history."""


@pytest.fixture(scope="module")
def answered(tickets: tuple[Path, pd.DataFrame]) -> Report:  # noqa: F811
    root, _ = tickets
    engine = sa.create_engine(f"sqlite:///{root}/tickets.db")
    with engine.begin() as conn:  # the correlated subquery looks tickets up by number
        conn.execute(sa.text("CREATE INDEX IF NOT EXISTS fr_number ON incident_history (number)"))
    engine.dispose()
    text = settings_text(root).replace(
        "      category: category\n",
        f'      category: category\n      first_response_at: "{FIRST_RESPONSE}"\n',
    )
    return make_report(load_settings(text=text), None, PERIOD, AS_OF)


class TestFirstResponse:
    def test_quantiles_match_pandas(self, tickets: Any, answered: Report) -> None:  # noqa: F811
        """Tickets first answered in the period: nearest-rank median and p90 of the time
        from opening to the first status change, per queue and overall."""
        _, table = tickets
        _, log = data.store_tables(AS_OF.replace(tzinfo=None))
        moved = log[log["new_state"].notna() & (log["new_state"] != "New")]
        first = moved.groupby("number")["changed_at"].min().rename("first")
        frame = table.set_index("number").join(first, how="inner")
        frame = frame[(frame["first"] >= START) & (frame["first"] < NOW)]
        took = (frame["first"] - frame["opened_at"]).dt.total_seconds()
        assert len(frame) > 100
        lines = {q.queue: q for q in answered.queues}
        for queue, mine in took.groupby(frame["assignment_group"]):
            line = lines[queue]
            assert line.first_responded == len(mine)
            assert line.first_response_median_s == pytest.approx(nearest(mine, 50), abs=1e-3)
            assert line.first_response_p90_s == pytest.approx(nearest(mine, 90), abs=1e-3)
        o = answered.overall
        assert o.first_responded == len(took)
        assert o.first_response_median_s == pytest.approx(nearest(took, 50), abs=1e-3)
        assert o.first_response_p90_s == pytest.approx(nearest(took, 90), abs=1e-3)
        quiet = [q for q in answered.queues if q.queue not in set(frame["assignment_group"])]
        assert quiet and all(q.first_responded == 0 for q in quiet)
        assert all(q.first_response_median_s is None for q in quiet)
        assert "- First response: median" in markdown(answered)
        header = csv_files(answered)["queues.csv"].splitlines()[0]
        assert "first_response_median_h,first_response_p90_h" in header

    def test_absent_without_the_field(self, report: Report) -> None:  # noqa: F811
        """Without ``first_response_at`` the figure is absent (empty cells), not zero."""
        assert report.overall.first_responded is None
        assert all(q.first_response_median_s is None for q in report.queues)
        assert "First response" not in markdown(report)
        overall = csv_files(report)["queues.csv"].splitlines()[-1].split(",")
        header = csv_files(report)["queues.csv"].splitlines()[0].split(",")
        assert overall[header.index("first_response_median_h")] == ""


@pytest.fixture(params=["postgresql", "mariadb"])
def server_url(request: pytest.FixtureRequest) -> str:
    fixture = "pg_database" if request.param == "postgresql" else "mariadb_database"
    url: str = request.getfixturevalue(fixture)
    engine = sa.create_engine(url)
    data.load(engine, AS_OF.replace(tzinfo=None))
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE INDEX fr_number ON incident_history (number)"))
    engine.dispose()
    return url


class TestOnServers:
    def test_same_quantiles_as_sqlite(
        self,
        server_url: str,
        tickets: Any,  # noqa: F811
        answered: Report,
    ) -> None:
        """PostgreSQL (ordered-set aggregates) and MariaDB (window functions) give the
        figures of the SQLite report, which is checked against pandas above."""
        root, _ = tickets
        text = settings_text(root).replace(
            "      category: category\n",
            f'      category: category\n      first_response_at: "{FIRST_RESPONSE}"\n',
        )
        text = text.replace(f'url: "sqlite:///{root}/tickets.db"', f'url: "{server_url}"')
        mine = make_report(load_settings(text=text), None, PERIOD, AS_OF)

        def figures(r: Report) -> list[tuple[Any, ...]]:
            # SQLite's julianday arithmetic is off by microseconds: compare to 0.01 s
            return [
                tuple(round(v, 2) if isinstance(v, float) else v for v in line) for line in lines(r)
            ]

        def lines(r: Report) -> list[tuple[Any, ...]]:
            return [
                (
                    q.queue,
                    q.resolved,
                    q.resolution_median_s,
                    q.resolution_p90_s,
                    q.first_responded,
                    q.first_response_median_s,
                    q.first_response_p90_s,
                )
                for q in (*r.queues, r.overall)
            ]

        assert figures(mine) == figures(answered)
