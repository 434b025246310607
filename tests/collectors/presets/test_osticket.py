"""The osTicket preset on MariaDB, against real ServiceNow incidents loaded into osTicket's tables.

The tables are osTicket's own (``setup/inc/streams/core/install-mysql.sql``), with its
default statuses plus two custom open ones, its four priorities, and ``ticket__cdata`` as
osTicket builds it from the ticket form. Every expected figure comes from
:func:`realdata.expected` (pandas), never from SQL.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from collectors.base import TOTAL_QUEUE, QueueStats, Window
from collectors.presets import PRESETS, osticket
from collectors.sql import SqlCollector
from tests.collectors.presets import realdata
from tests.collectors.presets.access import Withheld, verify_without
from tests.collectors.presets.conftest import BuildCollector
from tests.collectors.presets.realdata import rounded
from tests.collectors.upstream.dbs import fresh_mariadb

pytestmark = pytest.mark.mariadb

DDL = """
CREATE TABLE `{p}ticket` (
  `ticket_id` int(11) unsigned NOT NULL auto_increment,
  `number` varchar(20),
  `user_id` int(11) unsigned NOT NULL default '0',
  `user_email_id` int(11) unsigned NOT NULL default '0',
  `status_id` int(10) unsigned NOT NULL default '0',
  `dept_id` int(10) unsigned NOT NULL default '0',
  `sla_id` int(10) unsigned NOT NULL default '0',
  `topic_id` int(10) unsigned NOT NULL default '0',
  `staff_id` int(10) unsigned NOT NULL default '0',
  `team_id` int(10) unsigned NOT NULL default '0',
  `email_id` int(11) unsigned NOT NULL default '0',
  `lock_id` int(11) unsigned NOT NULL default '0',
  `flags` int(10) unsigned NOT NULL default '0',
  `ip_address` varchar(64) NOT NULL default '',
  `source` enum('Web','Email','Phone','API','Other') NOT NULL default 'Other',
  `isoverdue` tinyint(1) unsigned NOT NULL default '0',
  `isanswered` tinyint(1) unsigned NOT NULL default '0',
  `duedate` datetime default NULL,
  `est_duedate` datetime default NULL,
  `reopened` datetime default NULL,
  `closed` datetime default NULL,
  `lastmessage` datetime default NULL,
  `lastresponse` datetime default NULL,
  `lastupdate` datetime default NULL,
  `created` datetime NOT NULL,
  `updated` datetime NOT NULL,
  PRIMARY KEY  (`ticket_id`),
  KEY `user_id` (`user_id`),
  KEY `dept_id` (`dept_id`),
  KEY `staff_id` (`staff_id`),
  KEY `team_id` (`team_id`),
  KEY `status_id` (`status_id`),
  KEY `created` (`created`),
  KEY `closed` (`closed`),
  KEY `duedate` (`duedate`),
  KEY `topic_id` (`topic_id`),
  KEY `sla_id` (`sla_id`)
) DEFAULT CHARSET=utf8;

CREATE TABLE `{p}ticket_status` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `name` varchar(60) NOT NULL DEFAULT '',
  `state` varchar(16) DEFAULT NULL,
  `mode` int(11) unsigned NOT NULL DEFAULT '0',
  `flags` int(11) unsigned NOT NULL DEFAULT '0',
  `sort` int(11) unsigned NOT NULL DEFAULT '0',
  `properties` text NOT NULL,
  `created` datetime NOT NULL,
  `updated` datetime NOT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `name` (`name`),
  KEY `state` (`state`)
) DEFAULT CHARSET=utf8;

CREATE TABLE `{p}department` (
  `id` int(11) unsigned NOT NULL auto_increment,
  `pid` int(11) unsigned default NULL,
  `tpl_id` int(10) unsigned NOT NULL default '0',
  `sla_id` int(10) unsigned NOT NULL default '0',
  `email_id` int(10) unsigned NOT NULL default '0',
  `autoresp_email_id` int(10) unsigned NOT NULL default '0',
  `manager_id` int(10) unsigned NOT NULL default '0',
  `name` varchar(128) NOT NULL default '',
  `signature` text NOT NULL,
  `ispublic` tinyint(1) unsigned NOT NULL default '1',
  `group_membership` tinyint(1) NOT NULL default '0',
  `ticket_auto_response` tinyint(1) NOT NULL default '1',
  `message_auto_response` tinyint(1) NOT NULL default '0',
  `path` varchar(128) NOT NULL default '/',
  `updated` datetime NOT NULL,
  `created` datetime NOT NULL,
  PRIMARY KEY  (`id`),
  UNIQUE KEY `name` (`name`, `pid`)
) DEFAULT CHARSET=utf8;

CREATE TABLE `{p}ticket_priority` (
  `priority_id` tinyint(4) NOT NULL auto_increment,
  `priority` varchar(60) NOT NULL default '',
  `priority_desc` varchar(30) NOT NULL default '',
  `priority_color` varchar(7) NOT NULL default '',
  `priority_urgency` tinyint(1) unsigned NOT NULL default '0',
  `ispublic` tinyint(1) NOT NULL default '1',
  PRIMARY KEY  (`priority_id`),
  UNIQUE KEY `priority` (`priority`)
) DEFAULT CHARSET=utf8;

CREATE TABLE `{p}ticket__cdata` (
  `ticket_id` int(11) unsigned NOT NULL DEFAULT '0',
  `subject` mediumtext,
  `priority` mediumtext,
  PRIMARY KEY (`ticket_id`)
) DEFAULT CHARSET=utf8;

CREATE TABLE `{p}thread` (
  `id` int(11) unsigned NOT NULL AUTO_INCREMENT,
  `object_id` int(11) unsigned NOT NULL,
  `object_type` char(1) NOT NULL,
  `extra` text,
  `created` datetime NOT NULL,
  PRIMARY KEY (`id`),
  KEY `object_id` (`object_id`),
  KEY `object_type` (`object_type`)
) DEFAULT CHARSET=utf8;

CREATE TABLE `{p}thread_entry` (
  `id` int(11) unsigned NOT NULL auto_increment,
  `pid` int(11) unsigned NOT NULL default '0',
  `thread_id` int(11) unsigned NOT NULL default '0',
  `staff_id` int(11) unsigned NOT NULL default '0',
  `user_id` int(11) unsigned not null default 0,
  `type` char(1) NOT NULL default '',
  `flags` int(11) unsigned NOT NULL default '0',
  `poster` varchar(128) NOT NULL default '',
  `editor` int(10) unsigned NULL,
  `editor_type` char(1) NULL,
  `source` varchar(32) NOT NULL default '',
  `title` varchar(255),
  `body` text NOT NULL,
  `format` varchar(16) NOT NULL default 'html',
  `ip_address` varchar(64) NOT NULL default '',
  `created` datetime NOT NULL,
  `updated` datetime NOT NULL,
  PRIMARY KEY  (`id`),
  KEY `pid` (`pid`),
  KEY `thread_id` (`thread_id`),
  KEY `staff_id` (`staff_id`),
  KEY `type` (`type`)
) DEFAULT CHARSET=utf8;

CREATE TABLE `{p}help_topic` (
  `topic_id` int(11) unsigned NOT NULL auto_increment,
  `topic_pid` int(10) unsigned NOT NULL default '0',
  `isactive` tinyint(1) unsigned NOT NULL default '1',
  `ispublic` tinyint(1) unsigned NOT NULL default '1',
  `dept_id` int(10) unsigned NOT NULL default '0',
  `topic` varchar(32) NOT NULL default '',
  `created` datetime NOT NULL,
  `updated` datetime NOT NULL,
  PRIMARY KEY  (`topic_id`),
  UNIQUE KEY `topic` ( `topic` ,  `topic_pid` )
) DEFAULT CHARSET=utf8;
"""
"""The tables the preset reads, as osTicket creates them (``{p}`` is the table prefix)."""

EPOCH = datetime(2016, 1, 1)
STATUSES = (
    (1, "Open", "open"),
    (2, "Resolved", "closed"),
    (3, "Closed", "closed"),
    (4, "Archived", "archived"),
    (5, "Deleted", "deleted"),
    (6, "New", "open"),  # custom statuses: admins add them, always with a state
    (7, "Pending", "open"),
)
STATUS_OF = {"new": 6, "open": 1, "pending": 7, "resolved": 2, "closed": 3}
STATUS_LABEL = {"new": "New", "open": "Open", "pending": "Pending"}
PRIORITIES = (
    (1, "low", "Low"),
    (2, "normal", "Normal"),
    (3, "high", "High"),
    (4, "emergency", "Emergency"),
)
PRIORITY_OF = {1: 4, 2: 3, 3: 2, 4: 1}
"""ServiceNow priority (1 critical .. 4 low) -> osTicket priority_id."""
PRIORITY_LABEL = {1: "emergency", 2: "high", 3: "normal", 4: "low"}
TOPICS = {1: "Outage", 2: "Incident", 3: "Request", 4: "Question"}
"""Help topic per ServiceNow priority, for the queue-by-topic override."""

CASES = (
    (datetime(2016, 4, 1, tzinfo=UTC), (timedelta(days=1), timedelta(days=7)), "ost_"),
    (datetime(2016, 3, 15, 13, tzinfo=UTC), (timedelta(hours=1), timedelta(days=1)), "desk_"),
)
"""(as of, window lengths, table prefix): the second instant also exercises ``table_prefix``."""


def naive(instant: datetime) -> datetime:
    return instant.astimezone(UTC).replace(tzinfo=None)


def when(value: Any) -> datetime | None:
    return None if pd.isna(value) else pd.Timestamp(value).to_pydatetime()


def ticket_tables(rows: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
    """osTicket rows for the incidents ``rows`` (ticket_id = position + 1)."""
    depts = {name: i for i, name in enumerate(sorted(rows["group"].unique()), start=1)}
    staff = {name: i for i, name in enumerate(sorted(rows["assignee"].dropna().unique()), start=1)}
    out: dict[str, list[dict[str, Any]]] = {
        "ticket": [],
        "cdata": [],
        "thread": [],
        "entry": [],
        "department": [{"id": i, "name": name} for name, i in depts.items()],
    }
    for i, r in enumerate(rows.itertuples(index=False), start=1):
        due = when(r.resolution_due_at)
        manual = i % 2 == 0  # half carry a manual duedate, the rest only the SLA's estimate
        out["ticket"].append(
            {
                "ticket_id": i,
                "number": r.number,
                "status_id": STATUS_OF[r.state],
                "dept_id": depts[r.group],
                "topic_id": r.priority,
                "staff_id": 0 if pd.isna(r.assignee) else staff[r.assignee],
                "duedate": due if manual else None,
                "est_duedate": due + timedelta(days=3) if manual and due else due,
                "reopened": when(r.reopened_at),
                "closed": when(r.resolved_at),
                "created": when(r.opened_at),
            }
        )
        out["cdata"].append({"ticket_id": i, "priority": str(PRIORITY_OF[r.priority])})
        out["thread"].append({"id": i, "object_id": i, "object_type": "T", "created": r.opened_at})
        entries = [("M", r.opened_at, i), ("N", r.opened_at, i)]  # message, internal note
        if not pd.isna(r.first_response_at):
            entries.append(("R", r.first_response_at, i))
            if not pd.isna(r.resolved_at) and r.resolved_at > r.first_response_at:
                entries.append(("R", r.resolved_at, i))
        if i % 5 == 0:  # a task with the same object id, replied at once: not the ticket's
            task = 1_000_000 + i
            out["thread"].append(
                {"id": task, "object_id": i, "object_type": "A", "created": r.opened_at}
            )
            entries.append(("R", r.opened_at, task))
        out["entry"] += [{"thread_id": th, "type": k, "created": when(at)} for k, at, th in entries]
    return out


def load(url: str, rows: pd.DataFrame, prefix: str = "ost_", *extra: dict[str, Any]) -> None:
    """Create osTicket's tables under ``prefix`` and fill them from ``rows`` (plus ``extra``)."""
    tables = ticket_tables(rows)
    tables["ticket"] += [{k: v for k, v in e.items() if k != "cdata"} for e in extra]
    tables["cdata"] += [
        {"ticket_id": e["ticket_id"], "priority": e["cdata"]} for e in extra if e.get("cdata")
    ]
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in DDL.format(p=prefix).split(";"):
                if statement.strip():
                    conn.exec_driver_sql(statement)
            insert = _inserter(conn, prefix)
            insert(
                "ticket_status",
                [
                    {"id": i, "name": n, "state": s, "properties": "{}", "created": EPOCH}
                    for i, n, s in STATUSES
                ],
                updated=True,
            )
            insert(
                "ticket_priority",
                [{"priority_id": i, "priority": p, "priority_desc": d} for i, p, d in PRIORITIES],
            )
            insert(
                "help_topic",
                [{"topic_id": i, "topic": name, "created": EPOCH} for i, name in TOPICS.items()],
                updated=True,
            )
            insert(
                "department",
                [{**d, "signature": "", "created": EPOCH} for d in tables["department"]],
                updated=True,
            )
            insert(
                "ticket",
                [{**t, "updated": t["created"]} for t in tables["ticket"]],
            )
            insert("ticket__cdata", tables["cdata"])
            insert("thread", tables["thread"])
            insert(
                "thread_entry",
                [{**e, "body": "", "updated": e["created"]} for e in tables["entry"]],
            )
    finally:
        engine.dispose()


def _inserter(conn: sa.Connection, prefix: str) -> Any:
    def insert(table: str, rows: list[dict[str, Any]], updated: bool = False) -> None:
        if updated:
            rows = [{**r, "updated": r["created"]} for r in rows]
        columns = sorted({c for r in rows for c in r})
        rows = [{c: r.get(c) for c in columns} for r in rows]
        names = ", ".join(f"`{c}`" for c in columns)
        values = ", ".join(f":{c}" for c in columns)
        conn.execute(sa.text(f"INSERT INTO `{prefix}{table}` ({names}) VALUES ({values})"), rows)

    return insert


def expected(
    rows: pd.DataFrame, window: Window, status_label: dict[str, str] = STATUS_LABEL
) -> tuple[QueueStats, ...]:
    """What the preset must report: pandas figures, minus what osTicket cannot record."""
    figures = realdata.expected(
        rows, naive(window.start), naive(window.end), status_label, PRIORITY_LABEL
    )
    return tuple(
        realdata.queue_stats(
            queue,
            f,
            sla_breached_open={"resolution": f.sla_breached_open["resolution"]},
            sla_at_risk={"resolution": f.sla_at_risk["resolution"]},
            sla_breached_window=None,  # osTicket clears missed deadlines on close
        )
        for queue, f in sorted(figures.items())
    )


@pytest.fixture(autouse=True)
def _preset(monkeypatch: pytest.MonkeyPatch) -> None:
    """The preset under test, whether or not the package registers it yet."""
    monkeypatch.setitem(PRESETS, "osticket", osticket.PRESET)


@pytest.fixture
def make(preset_collectors: BuildCollector) -> Callable[..., SqlCollector]:
    """Collectors on the osticket preset with mapping overrides; closed after the test."""
    return functools.partial(preset_collectors, "osticket")


class TestOsTicket:
    @pytest.mark.parametrize(("as_of", "lengths", "prefix"), CASES, ids=["april", "march-prefix"])
    def test_figures_match_pandas(
        self,
        as_of: datetime,
        lengths: tuple[timedelta, ...],
        prefix: str,
        mariadb_database: str,
        make: Any,
    ) -> None:
        """Every figure equals the pandas one per department and for the source, for
        several windows."""
        rows = realdata.at(naive(as_of))
        load(mariadb_database, rows, prefix)
        collector = make(mariadb_database, table_prefix=prefix)
        for length in lengths:
            window = Window(as_of - length, as_of)
            snapshot = collector.collect(window)
            assert rounded(snapshot.queues) == rounded(expected(rows, window))
            total = expected(rows.assign(group=TOTAL_QUEUE), window)
            assert snapshot.total is not None
            assert rounded((snapshot.total,)) == rounded(total)

    def test_data_exercises_every_figure(self) -> None:
        """The cases have open SLA breaches, at-risk tickets, reopens and unassigned tickets."""
        totals: dict[str, int] = {}
        for as_of, lengths, _ in CASES:
            rows = realdata.at(naive(as_of))
            for q in expected(rows, Window(as_of - max(lengths), as_of)):
                for name, value in (
                    ("breached", (q.sla_breached_open or {})["resolution"]),
                    ("at_risk", (q.sla_at_risk or {})["resolution"]),
                    ("reopened", q.reopened or 0),
                    ("unassigned", q.unassigned or 0),
                    ("responded", int(q.avg_first_response_s is not None)),
                ):
                    totals[name] = totals.get(name, 0) + value
        assert all(n > 0 for n in totals.values()), totals

    def test_deleted_and_archived_tickets_are_excluded(
        self, mariadb_database: str, make: Any
    ) -> None:
        """Deleted and archived tickets count nowhere; one without form data has no priority."""
        as_of = datetime(2016, 3, 15, 13, tzinfo=UTC)
        rows = realdata.at(naive(as_of))
        created = naive(as_of) - timedelta(minutes=30)
        base = {"dept_id": 1, "topic_id": 1, "staff_id": 0, "created": created, "cdata": "1"}
        load(
            mariadb_database,
            rows,
            "ost_",
            {**base, "ticket_id": 900_001, "number": "DEL1", "status_id": 5},
            {**base, "ticket_id": 900_002, "number": "ARC1", "status_id": 4, "closed": created},
            {**base, "ticket_id": 900_003, "number": "NOFORM", "status_id": 1, "cdata": None},
        )
        window = Window(as_of - timedelta(hours=1), as_of)

        got = {q.queue: q for q in make(mariadb_database).collect(window).queues}

        want = {q.queue: q for q in expected(rows, window)}
        first = sorted(rows["group"].unique())[0]
        probe = got[first]
        assert probe.open_by_status_priority.get(("Open", "")) == 1
        assert probe.created == (want[first].created or 0) + 1
        counts = dict(probe.open_by_status_priority)
        del counts[("Open", "")]
        assert counts == want[first].open_by_status_priority
        assert probe.unassigned == (want[first].unassigned or 0) + 1
        others = {k: v for k, v in got.items() if k != first}
        assert rounded(tuple(others.values())) == rounded(
            tuple(q for q in want.values() if q.queue != first)
        )

    def test_queue_by_help_topic_override(self, mariadb_database: str, make: Any) -> None:
        """Overriding only ``queue`` with the help topic regroups every figure by topic."""
        as_of = datetime(2016, 4, 1, tzinfo=UTC)
        rows = realdata.at(naive(as_of))
        load(mariadb_database, rows)
        collector = make(
            mariadb_database,
            queue="SELECT ht.topic FROM ost_help_topic ht WHERE ht.topic_id = t.topic_id",
        )
        window = Window(as_of - timedelta(days=1), as_of)

        snapshot = collector.collect(window)

        by_topic = rows.assign(group=rows["priority"].map(TOPICS))
        assert {q.queue for q in snapshot.queues} == set(TOPICS.values())
        assert rounded(snapshot.queues) == rounded(expected(by_topic, window))


CORE_TABLES = ("ost_ticket", "ost_ticket_status", "ost_department")
OPTIONAL_TABLES = ("ost_ticket__cdata", "ost_ticket_priority", "ost_thread", "ost_thread_entry")
WITHHELD = (
    Withheld(("ost_ticket__cdata",), ("priority",), frozenset({"priority"})),
    Withheld(("ost_ticket_priority",), ("priority",), frozenset({"priority"})),
    Withheld(("ost_thread",), ("first_response_at",), frozenset({"first_response"})),
    Withheld(("ost_thread_entry",), ("first_response_at",), frozenset({"first_response"})),
    Withheld(
        OPTIONAL_TABLES,
        ("priority", "first_response_at"),
        frozenset({"priority", "first_response"}),
    ),
)
"""Each optional table in turn, then all of them (a user granted the core tables only)."""
SOURCE = {"kind": "sql", "name": "osticket", "mapping": {"preset": "osticket"}}


@pytest.fixture(scope="module")
def april() -> Iterator[tuple[str, pd.DataFrame]]:
    """A MariaDB database with osTicket's tables as of the first case, loaded once."""
    with fresh_mariadb() as url:
        rows = realdata.at(naive(CASES[0][0]))
        load(url, rows)
        yield url, rows


class TestOsTicketWithoutGrants:
    @pytest.mark.parametrize("case", WITHHELD, ids=lambda c: "+".join(c.tables))
    def test_optional_table_not_readable(
        self, case: Withheld, april: tuple[str, pd.DataFrame], make: Any, tmp_path: Path
    ) -> None:
        """The poll succeeds with the core figures exact and the figures of the withheld
        table absent (not 0), named with their grant in the snapshot, the metric and
        check-config --connect (exit 0); a broken core field still exits 2."""
        url, rows = april
        as_of = CASES[0][0]
        window = Window(as_of - timedelta(days=1), as_of)
        verify_without(
            case,
            url,
            (*CORE_TABLES, *OPTIONAL_TABLES),
            lambda reader_url: make(reader_url).collect(window),
            expected(rows, window),
            expected(rows.assign(group=TOTAL_QUEUE), window)[0],
            tmp_path,
            SOURCE,
        )
