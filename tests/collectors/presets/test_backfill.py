"""The backfill's hourly figures on each preset's own tables, against pandas.

Each help desk's tables are filled by its preset test's loader with the real ServiceNow
incidents as they stood on 1 April 2016 (with the tickets the product's own rules
exclude: merged, removed, trashed), on the engine the product runs on. The hours of
the three days before are reconstructed in the database (``SqlCollector.hourly``),
checked against ``snapshot --as-of`` at two hours' ends, and compared queue by queue
and hour by hour with :func:`tests.collectors.asof.hourly` over the incidents
themselves: each product's columns (Zammad's ``last_close_at`` or ``close_at``, GLPI's
``solvedate`` or ``closedate``, Znuny's close in ``ticket_history``, RT's ``resolved``
kept on reopen) must give back the same times.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from collectors.base import HourFigures, Window
from tests.collectors import asof
from tests.collectors.presets import realdata
from tests.collectors.presets import test_glpi as glpi
from tests.collectors.presets import test_osticket as osticket
from tests.collectors.presets import test_otrs as otrs
from tests.collectors.presets import test_rt as rt
from tests.collectors.presets import test_zammad as zammad
from tests.collectors.presets.conftest import BuildCollector

AS_OF = datetime(2016, 4, 1, tzinfo=UTC)
START = AS_OF - timedelta(days=3)


def incidents() -> pd.DataFrame:
    return realdata.at(AS_OF.replace(tzinfo=None))


def frame(rows: pd.DataFrame) -> pd.DataFrame:
    """The incidents as :mod:`tests.collectors.asof` reads them (times are UTC)."""
    return pd.DataFrame(
        {
            "queue": rows["group"],
            "status": rows["state"],
            "priority": rows["priority"],
            "open_now": rows["state"].isin(["new", "open", "pending"]),
            "created": rows["opened_at"].dt.tz_localize("UTC"),
            "resolved": rows["resolved_at"].dt.tz_localize("UTC"),
        }
    ).reset_index(drop=True)


def expected(rows: pd.DataFrame) -> dict[tuple[str, datetime], tuple[int, int, int]]:
    hours = list(pd.date_range(START, AS_OF, freq="h", inclusive="left"))
    return asof.hourly(frame(rows), hours)


def reconstructed(
    build: BuildCollector, preset: str, url: str, **options: Any
) -> dict[tuple[str, datetime], tuple[int, int, int]]:
    collector = build(preset, url, **options)
    rows: list[HourFigures] = collector.hourly(START, AS_OF)
    out = {(r.queue, r.hour): (r.open_end, r.created, r.resolved) for r in rows}
    assert len(out) == len(rows)
    for hour in (START + timedelta(hours=10), AS_OF - timedelta(hours=7)):
        # snapshot --as-of the hour's end gives the same figures, per queue and in total
        snapshot = collector.collect(Window(hour, hour + timedelta(hours=1), historical=True))
        assert snapshot.total is not None
        seen = {q.queue: q for q in (*snapshot.queues, snapshot.total)}
        for (queue, at), (open_end, created, resolved) in out.items():
            if at == hour and (open_end or created or resolved):
                q = seen[queue]
                assert (q.open_total, q.created, q.resolved) == (open_end, created, resolved)
    return out


@pytest.mark.postgres
def test_zammad(pg_database: str, preset_collectors: BuildCollector) -> None:
    rows = incidents()
    view = zammad.zammad_view(rows)
    zammad.load(pg_database, view, zammad.excluded_tickets(view, AS_OF))
    assert reconstructed(preset_collectors, "zammad", pg_database) == expected(rows)


@pytest.mark.postgres
def test_rt(pg_database: str, preset_collectors: BuildCollector) -> None:
    rows = incidents()
    rt.load(pg_database, rt.rt_view(rows))
    assert reconstructed(preset_collectors, "rt", pg_database) == expected(rows)


@pytest.mark.mariadb
def test_znuny(mariadb_database: str, preset_collectors: BuildCollector) -> None:
    rows = incidents()
    opened = AS_OF.replace(tzinfo=None) - timedelta(hours=30)
    otrs.load(
        mariadb_database,
        rows,
        otrs.gone(900_001, "MERGED", 9, opened),
        otrs.gone(900_002, "REMOVED", 5, opened),
    )
    assert reconstructed(preset_collectors, "znuny", mariadb_database) == expected(rows)


@pytest.mark.mariadb
def test_osticket(mariadb_database: str, preset_collectors: BuildCollector) -> None:
    rows = incidents()
    osticket.load(mariadb_database, rows)
    # no thread events in these tables: the backfill and the as-of snapshot are read
    # without the preset's past_state (with it: test_backfill_history.py)
    got = reconstructed(preset_collectors, "osticket", mariadb_database, past_state=None)
    assert got == expected(rows)


@pytest.mark.mariadb
@pytest.mark.parametrize("assignment", ["every_assigned_group", "first_assigned_group"])
def test_glpi(mariadb_database: str, preset_collectors: BuildCollector, assignment: str) -> None:
    """A ticket in several groups counts in each (or its first); the total counts it once."""
    rows = glpi.incidents_at(AS_OF)
    opened = AS_OF.replace(tzinfo=None) - timedelta(hours=30)
    trashed = {"id": 900_001, "name": "trashed", "date": opened, "status": 1}
    extra = {**trashed, "priority": 6, "itilcategories_id": 1, "is_deleted": 1}
    glpi.load(mariadb_database, rows, "+00:00", extra)
    got = reconstructed(
        preset_collectors,
        "glpi",
        mariadb_database,
        session_time_zone="+00:00",
        group_assignment=assignment,
        past_state=None,  # no glpi_logs in these tables (as for osTicket above)
    )
    per_queue = expected(glpi.in_groups(rows, assignment))
    total = expected(rows)
    want = {k: v for k, v in per_queue.items() if k[0] != "__total__"}
    want.update({k: v for k, v in total.items() if k[0] == "__total__"})
    assert got == want
