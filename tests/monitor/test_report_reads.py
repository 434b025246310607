"""The weekly report reads the period's resolved tickets once on PostgreSQL and MariaDB
(``collectors.sqlresolved``): every figure made of them equals the SQLite report's
(three separate reads there, checked against pandas in ``test_report``), and one
statement reads them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from collectors.base import Window
from collectors.sql import SqlCollector, SqlSourceConfig
from config.loader import load_settings
from monitor.report.build import Report
from monitor.report.command import make_report
from tests.collectors.test_workload import AS_OF
from tests.monitor.test_report import PERIOD, settings_text, tickets  # noqa: F401 (fixture)
from tests.monitor.test_report_first_response import FIRST_RESPONSE, server_url  # noqa: F401

RESOLVED_IN_PERIOD = re.compile(r"resolved_at\)? >= ")
"""A statement that reads the period's resolved tickets (its ``resolved_at`` range)."""
CREATED_IN_PERIOD = re.compile(r"opened_at\)? >= ")
"""A statement that reads the period's arrivals (its ``opened_at`` range)."""


def text_for(root: Path, url: str | None = None) -> str:
    """The report's settings with first responses and SLA deadlines kept once met."""
    text = settings_text(root).replace(
        "      category: category\n",
        f'      category: category\n      first_response_at: "{FIRST_RESPONSE}"\n'
        "      sla_history: true\n",
    )
    if url is not None:
        text = text.replace(f'url: "sqlite:///{root}/tickets.db"', f'url: "{url}"')
    return text


@pytest.fixture(scope="module")
def on_sqlite(tickets: tuple[Path, pd.DataFrame]) -> Report:  # noqa: F811
    root, _ = tickets
    engine = sa.create_engine(f"sqlite:///{root}/tickets.db")
    with engine.begin() as conn:  # the correlated subquery looks tickets up by number
        conn.execute(sa.text("CREATE INDEX IF NOT EXISTS fr_number ON incident_history (number)"))
    engine.dispose()
    return make_report(load_settings(text=text_for(root)), None, PERIOD, AS_OF)


@pytest.fixture
def statements() -> Iterator[list[str]]:
    """Every statement any engine runs while the test does."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    sa.event.listen(sa.Engine, "before_cursor_execute", record)
    yield seen
    sa.event.remove(sa.Engine, "before_cursor_execute", record)


def figures(r: Report) -> list[tuple[Any, ...]]:
    """Every figure of the report made of the period's resolved tickets, per queue and
    overall (SQLite's julianday arithmetic is off by microseconds: to 0.01 s)."""
    out = []
    for q in (*r.queues, r.overall):
        line = (
            q.queue,
            q.resolved,
            q.resolution_median_s,
            q.resolution_p90_s,
            q.first_responded,
            q.first_response_median_s,
            q.first_response_p90_s,
            q.sla_resolved,
            q.sla_met,
            q.routing,
        )
        out.append(tuple(round(v, 2) if isinstance(v, float) else v for v in line))
    return out


class TestReadOnce:
    def test_same_figures_as_sqlite_from_one_read(
        self,
        server_url: str,  # noqa: F811
        tickets: Any,  # noqa: F811
        on_sqlite: Report,
        statements: list[str],
    ) -> None:
        root, _ = tickets
        statements.clear()
        mine = make_report(load_settings(text=text_for(root, server_url)), None, PERIOD, AS_OF)
        reads = [s for s in statements if RESOLVED_IN_PERIOD.search(s)]
        arrivals = [s for s in statements if CREATED_IN_PERIOD.search(s)]
        assert figures(mine) == figures(on_sqlite)
        assert [(q.queue, q.created, q.categories_created) for q in mine.queues] == [
            (q.queue, q.created, q.categories_created) for q in on_sqlite.queues
        ]
        assert len(arrivals) == 1, arrivals  # created counts and categories of the arrivals
        assert any(q.routing and q.routing.misrouted for q in mine.queues)
        assert mine.overall.sla_resolved and mine.overall.sla_met
        assert len(reads) == 1, reads

    def test_same_snapshot_and_figures_as_separate_reads(
        self,
        server_url: str,  # noqa: F811
        tickets: Any,  # noqa: F811
    ) -> None:
        """``collect_report`` gives the snapshot of ``collect`` (resolved counts, mean
        resolution times, routing) and the figures of ``report``, on the same server."""
        root, _ = tickets
        config = load_settings(text=text_for(root, server_url)).sources[0]
        assert isinstance(config, SqlSourceConfig)
        window = Window(AS_OF - PERIOD, AS_OF)
        collector = SqlCollector(config)
        try:
            snapshot, built = collector.collect_report(window, 15)
            apart, separately = collector.collect(window), collector.report(window, 15)
        finally:
            collector.close()
        assert snapshot == apart
        assert built == separately
        assert snapshot.total is not None and snapshot.total.avg_resolution_s

    def test_sqlite_keeps_separate_reads(self, tickets: Any, statements: list[str]) -> None:  # noqa: F811
        """SQLite (window-function quantiles) still reads them once per figure: the poll's
        counts, routing, then the resolution quantiles and SLA attainment per queue and
        again for the total; so the count above can fail."""
        root, _ = tickets
        make_report(load_settings(text=text_for(root)), None, PERIOD, AS_OF)
        reads = [s for s in statements if RESOLVED_IN_PERIOD.search(s)]
        assert len(reads) == 6, reads
        # the arrivals are read once there too: created counts and categories
        assert len([s for s in statements if CREATED_IN_PERIOD.search(s)]) == 1
