"""The GLPI preset on MariaDB, against real ServiceNow incidents loaded into GLPI's tables.

The tables are GLPI's own (``install/mysql/glpi-empty.sql``, GLPI 10: TIMESTAMP dates,
``takeintoaccountdate``), with integer statuses and priorities and the many-to-many
group and user links. Every third ticket with a group also has a second assigned group,
linked first but with the highest group id; every fifth closed ticket was closed without
a solve date (an imported row). Every expected figure comes from :func:`realdata.expected`.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from collectors.base import TOTAL_QUEUE, QueueStats, Window
from collectors.presets import PRESETS, glpi
from collectors.sql import SqlCollector, SqlSourceConfig
from tests.collectors.presets import realdata
from tests.collectors.presets.access import Withheld, verify_without
from tests.collectors.presets.conftest import BuildCollector
from tests.collectors.presets.realdata import rounded
from tests.conftest import MARIADB_ADMIN_URL, require_service

pytestmark = pytest.mark.mariadb

DDL = """
CREATE TABLE `glpi_tickets` (
  `id` int(10) unsigned NOT NULL AUTO_INCREMENT,
  `entities_id` int(10) unsigned NOT NULL DEFAULT 0,
  `name` varchar(255) DEFAULT NULL,
  `date` timestamp NULL DEFAULT NULL,
  `closedate` timestamp NULL DEFAULT NULL,
  `solvedate` timestamp NULL DEFAULT NULL,
  `takeintoaccountdate` timestamp NULL DEFAULT NULL,
  `date_mod` timestamp NULL DEFAULT NULL,
  `users_id_lastupdater` int(10) unsigned NOT NULL DEFAULT 0,
  `status` int(11) NOT NULL DEFAULT 1,
  `users_id_recipient` int(10) unsigned NOT NULL DEFAULT 0,
  `requesttypes_id` int(10) unsigned NOT NULL DEFAULT 0,
  `content` longtext DEFAULT NULL,
  `urgency` int(11) NOT NULL DEFAULT 1,
  `impact` int(11) NOT NULL DEFAULT 1,
  `priority` int(11) NOT NULL DEFAULT 1,
  `itilcategories_id` int(10) unsigned NOT NULL DEFAULT 0,
  `type` int(11) NOT NULL DEFAULT 1,
  `global_validation` int(11) NOT NULL DEFAULT 1,
  `slas_id_ttr` int(10) unsigned NOT NULL DEFAULT 0,
  `slas_id_tto` int(10) unsigned NOT NULL DEFAULT 0,
  `slalevels_id_ttr` int(10) unsigned NOT NULL DEFAULT 0,
  `time_to_resolve` timestamp NULL DEFAULT NULL,
  `time_to_own` timestamp NULL DEFAULT NULL,
  `begin_waiting_date` timestamp NULL DEFAULT NULL,
  `sla_waiting_duration` int(11) NOT NULL DEFAULT 0,
  `ola_waiting_duration` int(11) NOT NULL DEFAULT 0,
  `olas_id_tto` int(10) unsigned NOT NULL DEFAULT 0,
  `olas_id_ttr` int(10) unsigned NOT NULL DEFAULT 0,
  `olalevels_id_ttr` int(10) unsigned NOT NULL DEFAULT 0,
  `ola_ttr_begin_date` timestamp NULL DEFAULT NULL,
  `internal_time_to_resolve` timestamp NULL DEFAULT NULL,
  `internal_time_to_own` timestamp NULL DEFAULT NULL,
  `waiting_duration` int(11) NOT NULL DEFAULT 0,
  `close_delay_stat` int(11) NOT NULL DEFAULT 0,
  `solve_delay_stat` int(11) NOT NULL DEFAULT 0,
  `takeintoaccount_delay_stat` int(11) NOT NULL DEFAULT 0,
  `actiontime` int(11) NOT NULL DEFAULT 0,
  `is_deleted` tinyint(4) NOT NULL DEFAULT 0,
  `locations_id` int(10) unsigned NOT NULL DEFAULT 0,
  `validation_percent` int(11) NOT NULL DEFAULT 0,
  `date_creation` timestamp NULL DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `date` (`date`),
  KEY `closedate` (`closedate`),
  KEY `status` (`status`),
  KEY `priority` (`priority`),
  KEY `solvedate` (`solvedate`),
  KEY `takeintoaccountdate` (`takeintoaccountdate`),
  KEY `time_to_resolve` (`time_to_resolve`),
  KEY `time_to_own` (`time_to_own`),
  KEY `itilcategories_id` (`itilcategories_id`),
  KEY `is_deleted` (`is_deleted`),
  KEY `date_creation` (`date_creation`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci ROW_FORMAT=DYNAMIC;

CREATE TABLE `glpi_groups` (
  `id` int(10) unsigned NOT NULL AUTO_INCREMENT,
  `entities_id` int(10) unsigned NOT NULL DEFAULT 0,
  `is_recursive` tinyint(4) NOT NULL DEFAULT 0,
  `name` varchar(255) DEFAULT NULL,
  `comment` text DEFAULT NULL,
  `groups_id` int(10) unsigned NOT NULL DEFAULT 0,
  `completename` text DEFAULT NULL,
  `level` int(11) NOT NULL DEFAULT 0,
  `date_mod` timestamp NULL DEFAULT NULL,
  `date_creation` timestamp NULL DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `name` (`name`),
  KEY `groups_id` (`groups_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci ROW_FORMAT=DYNAMIC;

CREATE TABLE `glpi_groups_tickets` (
  `id` int(10) unsigned NOT NULL AUTO_INCREMENT,
  `tickets_id` int(10) unsigned NOT NULL DEFAULT 0,
  `groups_id` int(10) unsigned NOT NULL DEFAULT 0,
  `type` int(11) NOT NULL DEFAULT 1,
  PRIMARY KEY (`id`),
  UNIQUE KEY `unicity` (`tickets_id`,`type`,`groups_id`),
  KEY `group` (`groups_id`,`type`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci ROW_FORMAT=DYNAMIC;

CREATE TABLE `glpi_tickets_users` (
  `id` int(10) unsigned NOT NULL AUTO_INCREMENT,
  `tickets_id` int(10) unsigned NOT NULL DEFAULT 0,
  `users_id` int(10) unsigned NOT NULL DEFAULT 0,
  `type` int(11) NOT NULL DEFAULT 1,
  `use_notification` tinyint(4) NOT NULL DEFAULT 1,
  `alternative_email` varchar(255) DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `unicity` (`tickets_id`,`type`,`users_id`,`alternative_email`),
  KEY `user` (`users_id`,`type`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci ROW_FORMAT=DYNAMIC;

CREATE TABLE `glpi_itilcategories` (
  `id` int(10) unsigned NOT NULL AUTO_INCREMENT,
  `entities_id` int(10) unsigned NOT NULL DEFAULT 0,
  `is_recursive` tinyint(4) NOT NULL DEFAULT 0,
  `itilcategories_id` int(10) unsigned NOT NULL DEFAULT 0,
  `name` varchar(255) DEFAULT NULL,
  `completename` text DEFAULT NULL,
  `level` int(11) NOT NULL DEFAULT 0,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci ROW_FORMAT=DYNAMIC;
"""
"""The tables the preset reads (and the categories of the override test), as GLPI 10 has them."""

STATUS_OF = {"new": 1, "open": 2, "pending": 4, "resolved": 5, "closed": 6}
STATUS_LABEL = {"new": "New", "open": "Processing (assigned)", "pending": "Pending"}
PRIORITY_OF = {1: 6, 2: 5, 3: 3, 4: 2}
"""ServiceNow priority (1 critical .. 4 low) -> GLPI priority."""
PRIORITY_LABEL = {1: "Major", 2: "Very high", 3: "Medium", 4: "Low"}
CATEGORIES = {1: "Outage", 2: "Incident", 3: "Request", 4: "Question"}
"""ITIL category per ServiceNow priority, for the queue-by-category override."""
UNASSIGNED = "(unassigned)"
REQUESTERS, SECOND_LINE = 1, 9_999
"""A requester group linked to every ticket and a second assigned group with the top id."""
SECOND_LINE_NAME = "Second line"

CASES = (
    (datetime(2016, 4, 1, tzinfo=UTC), (timedelta(days=1), timedelta(days=7)), "+00:00"),
    (datetime(2016, 3, 15, 13, tzinfo=UTC), (timedelta(hours=1), timedelta(days=1)), "+02:00"),
)
"""(as of, window lengths, time zone of the session that wrote the tickets)."""


def naive(instant: datetime) -> datetime:
    return instant.astimezone(UTC).replace(tzinfo=None)


def when(value: Any, shift: timedelta = timedelta(0)) -> datetime | None:
    return None if pd.isna(value) else pd.Timestamp(value).to_pydatetime() + shift


def table_rows(rows: pd.DataFrame, shift: timedelta) -> dict[str, list[dict[str, Any]]]:
    """GLPI rows for the incidents ``rows``, wall-clock times shifted by ``shift``."""
    named = sorted(g for g in rows["group"].unique() if g != UNASSIGNED)
    groups = {name: i for i, name in enumerate(named, start=10)}
    users = {name: i for i, name in enumerate(sorted(rows["assignee"].dropna().unique()), 2)}
    out: dict[str, list[dict[str, Any]]] = {
        "glpi_groups": [
            {"id": REQUESTERS, "name": "Requesters", "completename": "Requesters"},
            {"id": SECOND_LINE, "name": SECOND_LINE_NAME, "completename": SECOND_LINE_NAME},
        ]
        + [{"id": i, "name": n, "completename": n} for n, i in groups.items()],
        "glpi_tickets": [],
        "glpi_groups_tickets": [],
        "glpi_tickets_users": [],
        "glpi_itilcategories": [
            {"id": i, "name": n, "completename": n} for i, n in CATEGORIES.items()
        ],
    }
    for i, r in enumerate(rows.itertuples(index=False), start=1):
        out["glpi_tickets"].append(
            {
                "id": i,
                "name": r.number,
                "date": when(r.opened_at, shift),
                "date_creation": when(r.opened_at, shift),
                "solvedate": None if r.solve_missing else when(r.resolved_at, shift),
                "closedate": when(r.closed_at, shift) if r.state == "closed" else None,
                "takeintoaccountdate": when(r.first_response_at, shift),
                "status": STATUS_OF[r.state],
                "priority": PRIORITY_OF[r.priority],
                "itilcategories_id": r.priority,
                "is_deleted": 0,
                "time_to_own": when(r.first_response_due_at, shift),
                "time_to_resolve": when(r.resolution_due_at, shift),
            }
        )
        links = out["glpi_groups_tickets"]
        if r.escalated:  # linked first, yet not the lowest group id
            links.append({"tickets_id": i, "groups_id": SECOND_LINE, "type": 2})
        if r.group != UNASSIGNED:
            links.append({"tickets_id": i, "groups_id": groups[r.group], "type": 2})
        links.append({"tickets_id": i, "groups_id": REQUESTERS, "type": 1})
        users_rows = out["glpi_tickets_users"]
        users_rows.append({"tickets_id": i, "users_id": 1, "type": 1})  # the requester
        if not pd.isna(r.assignee):
            users_rows.append({"tickets_id": i, "users_id": users[r.assignee], "type": 2})
    return out


def offset(zone: str) -> timedelta:
    """``+02:00`` as a timedelta."""
    hours, minutes = (int(x) for x in zone.split(":"))
    return timedelta(hours=hours, minutes=minutes if hours >= 0 else -minutes)


def load(url: str, rows: pd.DataFrame, zone: str = "+00:00", *extra: dict[str, Any]) -> None:
    """Create GLPI's tables and fill them from ``rows`` through a session in ``zone``."""
    tables = table_rows(rows, offset(zone))
    tables["glpi_tickets"] += list(extra)
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"SET time_zone = '{zone}'")
            for statement in DDL.split(";"):
                if statement.strip():
                    conn.exec_driver_sql(statement)
            for table, data in tables.items():
                columns = sorted({c for r in data for c in r})
                names = ", ".join(f"`{c}`" for c in columns)
                values = ", ".join(f":{c}" for c in columns)
                conn.execute(
                    sa.text(f"INSERT INTO `{table}` ({names}) VALUES ({values})"),
                    [{c: r.get(c) for c in columns} for r in data],
                )
    finally:
        engine.dispose()


def incidents_at(as_of: datetime) -> pd.DataFrame:
    """The incidents at ``as_of``; ServiceNow's group "(none)" is GLPI's unassigned queue.

    ``escalated``: every third ticket with a group also has the second-line group,
    linked before its own. ``solve_missing``: every fifth closed ticket has no solve
    date, only a close date; GLPI's fallback makes it resolved when it was closed.
    """
    rows = realdata.at(naive(as_of))
    rows = rows.assign(group=rows["group"].replace("(none)", UNASSIGNED))
    position = pd.Series(range(1, len(rows) + 1), index=rows.index)
    rows["escalated"] = (position % 3 == 0) & (rows["group"] != UNASSIGNED)
    rows["solve_missing"] = (position % 5 == 0) & (rows["state"] == "closed")
    rows.loc[rows["solve_missing"], "resolved_at"] = rows.loc[rows["solve_missing"], "closed_at"]
    return rows


def in_groups(rows: pd.DataFrame, assignment: str = "every_assigned_group") -> pd.DataFrame:
    """One row per (ticket, queue) the assignment rule puts it in."""
    if assignment == "first_assigned_group":
        return rows.assign(group=rows["group"].where(~rows["escalated"], SECOND_LINE_NAME))
    second = rows[rows["escalated"]].assign(group=SECOND_LINE_NAME)
    return pd.concat([rows, second], ignore_index=True)


def expected(
    rows: pd.DataFrame, window: Window, assignment: str = "every_assigned_group"
) -> tuple[QueueStats, ...]:
    """What the preset must report per queue: pandas figures; GLPI records no reopen instant."""
    figures = realdata.expected(
        in_groups(rows, assignment),
        naive(window.start),
        naive(window.end),
        STATUS_LABEL,
        PRIORITY_LABEL,
    )
    return tuple(
        realdata.queue_stats(queue, f, reopened=None) for queue, f in sorted(figures.items())
    )


def expected_total(rows: pd.DataFrame, window: Window) -> QueueStats:
    """The source's figures, every ticket once, whatever its groups."""
    [(queue, figures)] = realdata.expected(
        rows.assign(group=TOTAL_QUEUE),
        naive(window.start),
        naive(window.end),
        STATUS_LABEL,
        PRIORITY_LABEL,
    ).items()
    return realdata.queue_stats(queue, figures, reopened=None)


@pytest.fixture(autouse=True)
def _preset(monkeypatch: pytest.MonkeyPatch) -> None:
    """The preset under test, whether or not the package registers it yet."""
    monkeypatch.setitem(PRESETS, "glpi", glpi.PRESET)


@pytest.fixture
def make(preset_collectors: BuildCollector) -> Callable[..., SqlCollector]:
    """Collectors on the glpi preset (session in UTC) with mapping overrides."""
    return functools.partial(preset_collectors, "glpi", session_time_zone="+00:00")


@pytest.fixture(scope="module")
def stores() -> Iterator[Callable[[datetime, str], tuple[str, pd.DataFrame]]]:
    """Per (as-of instant, writer zone), a MariaDB database loaded once for the module: the
    incidents then, plus a trashed ticket opened half an hour before (not to be counted).

    Loading the real data takes seconds. Like ``mariadb_database``, it is skipped without
    MariaDB and fails under ``CI=true``.
    """
    admin = require_service("MariaDB", MARIADB_ADMIN_URL)
    loaded: dict[tuple[datetime, str], tuple[str, pd.DataFrame]] = {}

    def at(as_of: datetime, zone: str) -> tuple[str, pd.DataFrame]:
        if (as_of, zone) not in loaded:
            name = f"t_{uuid.uuid4().hex[:10]}"
            with admin.begin() as conn:
                conn.execute(sa.text(f"CREATE DATABASE `{name}`"))
            url = sa.engine.make_url(MARIADB_ADMIN_URL).set(database=name)
            rows = incidents_at(as_of)
            opened = naive(as_of) - timedelta(minutes=30) + offset(zone)
            trashed = {"id": 900_001, "name": "trashed", "date": opened, "status": 1}
            extra = {**trashed, "priority": 6, "itilcategories_id": 1, "is_deleted": 1}
            load(url.render_as_string(hide_password=False), rows, zone, extra)
            loaded[(as_of, zone)] = (url.render_as_string(hide_password=False), rows)
        return loaded[(as_of, zone)]

    yield at
    with admin.begin() as conn:
        for url, _ in loaded.values():
            conn.execute(sa.text(f"DROP DATABASE `{sa.engine.make_url(url).database}`"))
    admin.dispose()


class TestGlpi:
    @pytest.mark.parametrize(("as_of", "lengths", "zone"), CASES, ids=["april", "march-cest"])
    def test_figures_match_pandas(
        self, as_of: datetime, lengths: tuple[timedelta, ...], zone: str, stores: Any, make: Any
    ) -> None:
        """Every figure equals the pandas one per assigned group (a ticket in each of its
        groups) and for the source (each ticket once), whatever zone GLPI wrote in."""
        url, rows = stores(as_of, zone)
        collector = make(url)
        for length in lengths:
            window = Window(as_of - length, as_of)
            snapshot = collector.collect(window)
            assert rounded(snapshot.queues) == rounded(expected(rows, window))
            assert snapshot.total is not None
            assert rounded((snapshot.total,)) == rounded((expected_total(rows, window),))

    @pytest.mark.parametrize("assignment", ["every_assigned_group", "first_assigned_group"])
    def test_group_assignment(self, assignment: str, stores: Any, make: Any) -> None:
        """Escalated tickets count in both groups, or only in the group linked first; the
        source's total counts each ticket once either way (not the sum of the queues)."""
        as_of, _, zone = CASES[0]
        url, rows = stores(as_of, zone)
        window = Window(as_of - timedelta(days=1), as_of)

        snapshot = make(url, group_assignment=assignment).collect(window)

        assert rounded(snapshot.queues) == rounded(expected(rows, window, assignment))
        assert snapshot.total is not None
        assert rounded((snapshot.total,)) == rounded((expected_total(rows, window),))
        summed = sum(q.open_total for q in snapshot.queues)
        overlap = assignment == "every_assigned_group"
        assert (summed > snapshot.total.open_total) == overlap

    def test_closed_without_solve_date_is_resolved(self, stores: Any, make: Any) -> None:
        """A ticket with only a close date counts as resolved then, with its resolution time
        (reading solvedate alone would miss it)."""
        as_of, _, zone = CASES[0]
        url, rows = stores(as_of, zone)
        window = Window(as_of - timedelta(days=7), as_of)
        t0, t1 = naive(window.start), naive(window.end)
        only_closed = rows[rows["solve_missing"] & rows["resolved_at"].between(t0, t1)]
        assert len(only_closed) > 0

        snapshot = make(url).collect(window)
        solvedate_only = make(url, resolved_at="solvedate").collect(window)

        assert snapshot.total is not None and solvedate_only.total is not None
        assert snapshot.total.resolved == expected_total(rows, window).resolved
        missed = snapshot.total.resolved - (solvedate_only.total.resolved or 0)
        assert missed == len(only_closed)

    def test_data_exercises_every_figure(self) -> None:
        """The cases have SLA breaches and risks of both kinds and unassigned tickets."""
        totals: dict[str, int] = {}
        for as_of, lengths, _ in CASES:
            rows = incidents_at(as_of)
            assert (rows["group"] == UNASSIGNED).any()
            for q in expected(rows, Window(as_of - max(lengths), as_of)):
                for kind in ("first_response", "resolution"):
                    for name, figure in (
                        ("breached", q.sla_breached_open),
                        ("at_risk", q.sla_at_risk),
                        ("window", q.sla_breached_window),
                    ):
                        key = f"{name}_{kind}"
                        totals[key] = totals.get(key, 0) + (figure or {})[kind]
                totals["unassigned"] = totals.get("unassigned", 0) + (q.unassigned or 0)
        assert all(n > 0 for n in totals.values()), totals

    def test_deleted_tickets_are_excluded(self, stores: Any, make: Any) -> None:
        """A ticket in the trash bin (is_deleted = 1) counts nowhere."""
        as_of, _, zone = CASES[1]
        url, rows = stores(as_of, zone)
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            trashed = "SELECT is_deleted FROM glpi_tickets WHERE id = 900001"
            assert conn.execute(sa.text(trashed)).scalar() == 1
        engine.dispose()

        for length in (timedelta(hours=1), timedelta(days=1)):
            window = Window(as_of - length, as_of)
            assert rounded(make(url).collect(window).queues) == rounded(expected(rows, window))

    def test_top_categories_are_the_itil_categories(self, stores: Any) -> None:
        """The preset's category is the ITIL category's completename: open tickets and
        arrivals per category in every assigned group equal pandas' counts."""
        as_of, _, zone = CASES[0]
        url, rows = stores(as_of, zone)
        config = SqlSourceConfig.model_validate(
            {
                "kind": "sql",
                "name": "glpi",
                "url": url,
                "session_time_zone": "+00:00",
                "mapping": {"preset": "glpi"},
                "workload": {"top_categories": len(CATEGORIES)},
            }
        )
        window = Window(as_of - timedelta(days=7), as_of)
        collector = SqlCollector(config)
        try:
            got = {q.queue: q.workload for q in collector.collect(window).queues}
        finally:
            collector.close()
        placed = pd.concat(  # a ticket counts in each group assigned to it
            [rows, rows[rows["escalated"]].assign(group=SECOND_LINE_NAME)]
        ).assign(category=lambda f: f["priority"].map(CATEGORIES))
        opened = placed["opened_at"].dt.tz_localize(None)
        came = placed[(opened >= naive(window.start)) & (opened < naive(window.end))]
        open_ = placed[placed["state"].isin(["new", "open", "pending"])]
        for kind, frame in (("categories_open", open_), ("categories_created", came)):
            counts = frame.groupby(["group", "category"]).size()
            for queue in frame["group"].unique():
                w = got[queue]
                assert w is not None
                assert getattr(w, kind) == counts[queue].to_dict(), (kind, queue)
        assert len(open_) > 100 and len(came) > 100

    def test_queue_by_category_override(self, stores: Any, make: Any) -> None:
        """Overriding only ``queue`` with the ITIL category regroups every figure by category;
        the group joins nothing reads any more are left out, so no ticket counts twice."""
        as_of, _, zone = CASES[0]
        url, rows = stores(as_of, zone)
        collector = make(
            url,
            queue="SELECT c.completename FROM glpi_itilcategories c"
            " WHERE c.id = t.itilcategories_id",
        )
        window = Window(as_of - timedelta(days=1), as_of)

        snapshot = collector.collect(window)

        by_category = rows.assign(group=rows["priority"].map(CATEGORIES), escalated=False)
        assert {q.queue for q in snapshot.queues} == set(CATEGORIES.values())
        assert rounded(snapshot.queues) == rounded(expected(by_category, window))
        assert snapshot.total is not None
        assert rounded((snapshot.total,)) == rounded((expected_total(rows, window),))
        assert snapshot.total.open_total == sum(q.open_total for q in snapshot.queues)


GRANTED = ("glpi_tickets", "glpi_groups", "glpi_groups_tickets")
"""The core tables: tickets and their assigned groups (the queue)."""
WITHOUT_USERS = Withheld(("glpi_tickets_users",), ("assignee",), frozenset({"unassigned"}))
SOURCE = {
    "kind": "sql",
    "name": "glpi",
    "session_time_zone": "+00:00",
    "mapping": {"preset": "glpi"},
}


class TestGlpiWithoutGrants:
    def test_users_table_not_readable(self, stores: Any, make: Any, tmp_path: Path) -> None:
        """Without glpi_tickets_users the poll succeeds: unassigned is absent (not 0), every
        other figure exact, the grant named in the snapshot, the metric and check-config
        --connect (exit 0); a broken core field still exits 2."""
        as_of, _, zone = CASES[0]
        url, rows = stores(as_of, zone)
        window = Window(as_of - timedelta(days=1), as_of)
        verify_without(
            WITHOUT_USERS,
            url,
            (*GRANTED, "glpi_tickets_users"),
            lambda reader_url: make(reader_url).collect(window),
            expected(rows, window),
            expected_total(rows, window),
            tmp_path,
            SOURCE,
        )
