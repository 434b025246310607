"""The Request Tracker preset on RT's own tables (PostgreSQL), filled with real incidents.

Tables, columns and types follow RT's ``etc/schema.Pg`` as PostgreSQL stores it (unquoted
names fold to lower case); statuses are the default lifecycle's, priorities the
``%PriorityAsString`` defaults, unset dates the ``1970-01-01 00:00:00`` sentinel or NULL.
Every expected figure comes from :func:`realdata.expected` (pandas), never from SQL.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from collectors.base import TOTAL_QUEUE, Snapshot, Window
from collectors.presets import PRESETS, rt
from collectors.sql import SqlCollector, SqlSourceConfig
from tests.collectors.presets import realdata
from tests.collectors.presets.access import Withheld, verify_without
from tests.collectors.presets.conftest import BuildCollector
from tests.collectors.presets.test_zammad import (
    AS_OF,
    WINDOWS,
    check_categories,
    copy_rows,
    figures,
    got,
    naive,
    pytimes,
    rounded,
)
from tests.collectors.stores.incidents import incident_events
from tests.collectors.upstream.dbs import fresh_postgres

pytestmark = pytest.mark.postgres

UNSET = datetime(1970, 1, 1)
STATUSES = {"new": "new", "open": "open", "pending": "stalled", "resolved": "resolved"}
"""realdata state -> RT status; closed incidents become resolved or (every 7th) rejected."""
STATUS_LABEL = {"new": "new", "open": "open", "pending": "stalled"}
PRIORITY = {1: 100, 2: 70, 3: 50, 4: 0}
"""realdata priority (1 critical .. 4 low) -> RT's numeric priority."""
PRIORITY_LABEL = {100: "High", 70: "Medium", 50: "Medium", 0: "Low"}
"""%PriorityAsString defaults: the highest threshold (0, 50, 100) not above the value."""
RT_SYSTEM, NOBODY, REQUESTOR = 1, 6, 100
PROBE = "Sentinel probe"

metadata = sa.MetaData()


def _int(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.Integer, nullable=False, server_default="0")


def _stamps() -> list[sa.Column[Any]]:
    return [
        _int("lastupdatedby"),
        sa.Column("lastupdated", sa.DateTime),
        _int("creator"),
        sa.Column("created", sa.DateTime),
    ]


tickets = sa.Table(
    "tickets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    _int("effectiveid"),
    sa.Column("ismerged", sa.SmallInteger),
    _int("queue"),
    sa.Column("type", sa.String(16)),
    _int("owner"),
    sa.Column("subject", sa.String(200), server_default="[no subject]"),
    sa.Column("description", sa.Text),
    _int("initialpriority"),
    _int("finalpriority"),
    _int("priority"),
    _int("timeestimated"),
    _int("timeworked"),
    sa.Column("status", sa.String(64)),
    sa.Column("sla", sa.String(64)),
    _int("timeleft"),
    sa.Column("told", sa.DateTime),
    sa.Column("starts", sa.DateTime),
    sa.Column("started", sa.DateTime),
    sa.Column("due", sa.DateTime),
    sa.Column("resolved", sa.DateTime),
    *_stamps(),
    sa.Index("tickets1", "queue", "status"),
    sa.Index("tickets2", "owner"),
    sa.Index("tickets3", "effectiveid"),
)
queues = sa.Table(
    "queues",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("description", sa.String(255)),
    sa.Column("correspondaddress", sa.String(120)),
    sa.Column("commentaddress", sa.String(120)),
    sa.Column("lifecycle", sa.String(32)),
    sa.Column("subjecttag", sa.String(120)),
    _int("sortorder"),
    *_stamps(),
    sa.Column("sladisabled", sa.Integer, nullable=False, server_default="1"),
    _int("disabled"),
)
users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("password", sa.String(256)),
    sa.Column("emailaddress", sa.String(120)),
    sa.Column("realname", sa.String(120)),
    sa.Column("timezone", sa.String(50)),
    *_stamps(),
)
transactions = sa.Table(
    "transactions",
    metadata,
    # BIGINT as in RT; SQLite numbers only an INTEGER primary key by itself
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("objecttype", sa.String(255), nullable=False),
    _int("objectid"),
    _int("timetaken"),
    _int("timeworker"),
    sa.Column("timeworkeddate", sa.Date),
    sa.Column("type", sa.String(20)),
    sa.Column("field", sa.String(255)),
    sa.Column("oldvalue", sa.String(255)),
    sa.Column("newvalue", sa.String(255)),
    sa.Column("referencetype", sa.String(255)),
    sa.Column("oldreference", sa.Integer),
    sa.Column("newreference", sa.Integer),
    sa.Column("data", sa.String(255)),
    _int("creator"),
    sa.Column("created", sa.DateTime),
    sa.Index("transactions1", "objecttype", "objectid"),
)


customfields = sa.Table(
    "customfields",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200)),
    sa.Column("type", sa.String(200)),
    _int("maxvalues"),
    sa.Column("lookuptype", sa.String(255), nullable=False),
    sa.Column("description", sa.String(255)),
    _int("sortorder"),
    *_stamps(),
    _int("disabled"),
)
objectcustomfieldvalues = sa.Table(
    "objectcustomfieldvalues",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    _int("customfield"),
    sa.Column("objecttype", sa.String(255)),
    _int("objectid"),
    _int("sortorder"),
    sa.Column("content", sa.String(255)),
    sa.Column("largecontent", sa.Text),
    *_stamps(),
    _int("disabled"),
    sa.Index("objectcustomfieldvalues1", "customfield", "objecttype", "objectid", "content"),
)
"""RT's custom-field tables (columns as RT databases dumped by ``pg_dump`` show them)."""


@pytest.fixture(autouse=True)
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """The preset under its name (until collectors.presets registers it)."""
    monkeypatch.setitem(PRESETS, "rt", rt.PRESET)


def rt_view(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with RT's columns: status, numeric priority, ``resolved`` as RT leaves it.

    ``resolved`` is not cleared on reopen: an open ticket reopened earlier keeps the stamp
    of the resolution before. Unset dates alternate between the 1970 sentinel and NULL.
    """
    view = rows.copy()
    ids = pd.Series(range(1, len(view) + 1), index=view.index)
    view["id"] = ids
    closed = view["state"] == "closed"
    view["status"] = view["state"].map(STATUSES)
    view.loc[closed, "status"] = "resolved"
    view.loc[closed & (ids % 7 == 0), "status"] = "rejected"
    view["rt_priority"] = view["priority"].map(PRIORITY)
    done = view["state"].isin(["resolved", "closed"])
    earlier = view["reopened_at"] - pd.Timedelta(hours=1)
    earlier = earlier.where(earlier > view["opened_at"], view["opened_at"])
    view["rt_resolved"] = view["resolved_at"].where(done, earlier)
    return view


def unset(values: list[datetime | None], ids: pd.Series) -> list[datetime | None]:
    """NULL dates as RT writes them: the 1970 sentinel on even ids, NULL on odd ones."""
    return [UNSET if v is None and i % 2 == 0 else v for v, i in zip(values, ids, strict=True)]


def load(url: str, view: pd.DataFrame, extra: list[dict[str, Any]] = ()) -> None:  # type: ignore[assignment]
    """Create RT's tables and fill them from ``view`` (see :func:`rt_view`)."""
    queue_ids = {q: i for i, q in enumerate(sorted(realdata.incidents()["group"].unique()), 1)}
    queue_ids[PROBE] = len(queue_ids) + 1
    queue_ids["___Approvals"] = len(queue_ids) + 1
    agent_ids = {a: i for i, a in enumerate(sorted(view["assignee"].dropna().unique()), 1000)}
    people = [
        {"id": RT_SYSTEM, "name": "RT_System"},
        {"id": NOBODY, "name": "Nobody"},
        {"id": REQUESTOR, "name": "customer@example.com"},
    ] + [{"id": i, "name": a} for a, i in agent_ids.items()]
    times = {
        c: pytimes(view[c])
        for c in (
            "opened_at",
            "first_response_at",
            "resolution_due_at",
            "rt_resolved",
            "reopened_at",
        )
    }
    resolved = unset(times["rt_resolved"], view["id"])
    owners = [NOBODY if pd.isna(a) else agent_ids[a] for a in view["assignee"]]
    ticket_rows = [
        {
            "id": r.id,
            "effectiveid": r.id,
            "queue": queue_ids[r.group],
            "type": "ticket",
            "owner": owners[i],
            "subject": r.number,
            "priority": r.rt_priority,
            "status": r.status,
            "due": times["resolution_due_at"][i],
            "resolved": resolved[i],
            "creator": REQUESTOR,
            "created": times["opened_at"][i],
            "lastupdatedby": REQUESTOR,
            "lastupdated": times["opened_at"][i],
        }
        for i, r in enumerate(
            view[["id", "group", "number", "rt_priority", "status"]].itertuples(index=False)
        )
    ]
    as_of = naive_max(view)
    history: list[dict[str, Any]] = []
    for i, ticket in enumerate(view["id"]):
        opened, responded = times["opened_at"][i], times["first_response_at"][i]
        history.append(txn(ticket, "Create", REQUESTOR, opened))
        early = opened + timedelta(minutes=1)  # type: ignore[operator]
        if early <= as_of and (responded is None or early < responded):
            history.append(txn(ticket, "Correspond", REQUESTOR, early))  # not a first response
        if responded is not None:
            agent = owners[i] if owners[i] != NOBODY else min(agent_ids.values())
            history.append(txn(ticket, "Correspond", agent, responded))
        if times["reopened_at"][i] is not None:
            history.append(
                txn(ticket, "Status", REQUESTOR, times["reopened_at"][i], "resolved", "open")
            )
    engine = sa.create_engine(url)
    try:
        metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(users.insert(), people)
            conn.execute(queues.insert(), [{"id": i, "name": q} for q, i in queue_ids.items()])
            copy_rows(conn, tickets, ticket_rows + list(extra))
            copy_rows(conn, transactions, history)
        if engine.dialect.name == "postgresql":  # a live RT database has planner statistics
            with engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                    "ANALYZE tickets, transactions, queues, users"
                )
    finally:
        engine.dispose()


def naive_max(view: pd.DataFrame) -> datetime:
    """The latest instant the view knows (its as-of lies after it)."""
    latest: datetime = pd.Timestamp(view["opened_at"].max()).to_pydatetime()
    return latest


def txn(
    ticket: int,
    kind: str,
    creator: int,
    created: datetime | None,
    old: str | None = None,
    new: str | None = None,
) -> dict[str, Any]:
    return {
        "objecttype": "RT::Ticket",
        "objectid": ticket,
        "type": kind,
        "field": "Status" if kind == "Status" else None,
        "oldvalue": old,
        "newvalue": new,
        "creator": creator,
        "created": created,
    }


def special_tickets(view: pd.DataFrame, as_of: datetime) -> list[dict[str, Any]]:
    """Tickets RT holds that must count nowhere, plus two sentinel probes in their own queue.

    In the busiest queue, created 30 minutes ago, overdue and owned by Nobody: a ticket
    merged into another (it keeps status open), a reminder, a deleted ticket; an approval
    in ``___Approvals``. In :data:`PROBE`: an open ticket and a resolved one whose ``due``
    and ``resolved`` are the 1970 sentinel.
    """
    names = sorted(realdata.incidents()["group"].unique())
    busiest = names.index(view["group"].value_counts().index[0]) + 1
    opened = naive(as_of) - timedelta(minutes=30)
    base = {
        "owner": NOBODY,
        "priority": 50,
        "creator": REQUESTOR,
        "created": opened,
        "lastupdatedby": REQUESTOR,
        "lastupdated": opened,
    }
    first = int(view["id"].iloc[0])
    rows = [
        {"id": 900_001, "effectiveid": first, "queue": busiest, "type": "ticket", "status": "open"},
        {
            "id": 900_002,
            "effectiveid": 900_002,
            "queue": busiest,
            "type": "reminder",
            "status": "open",
        },
        {
            "id": 900_003,
            "effectiveid": 900_003,
            "queue": busiest,
            "type": "ticket",
            "status": "deleted",
        },
        {
            "id": 900_004,
            "effectiveid": 900_004,
            "queue": len(names) + 2,
            "type": "approval",
            "status": "open",
        },
        {
            "id": 900_005,
            "effectiveid": 900_005,
            "queue": len(names) + 1,
            "type": "ticket",
            "status": "open",
        },
        {
            "id": 900_006,
            "effectiveid": 900_006,
            "queue": len(names) + 1,
            "type": "ticket",
            "status": "resolved",
        },
    ]
    out = []
    for row in rows:
        probe = row["queue"] == len(names) + 1
        out.append(
            {
                **base,
                **row,
                "subject": f"special {row['id']}",
                "due": UNSET if probe else opened - timedelta(days=1),
                "resolved": UNSET if probe or row["status"] != "deleted" else opened,
            }
        )
    return out


@pytest.fixture
def collect(preset_collectors: BuildCollector) -> Callable[..., Snapshot]:
    """Collect once from ``url`` with preset rt plus overrides."""

    def run(url: str, window: Window, **mapping: Any) -> Snapshot:
        return preset_collectors("rt", url, **mapping).collect(window)

    return run


def want(view: pd.DataFrame, window: Window) -> dict[str, realdata.Figures]:
    """realdata.expected with RT's labels; RT has a resolution deadline only."""
    numeric = {p: str(n) for p, n in PRIORITY.items()}
    expected = realdata.expected(
        view, naive(window.start), naive(window.end), STATUS_LABEL, numeric
    )
    out = {}
    for queue, f in expected.items():
        by: dict[tuple[str, str], int] = {}
        for (status, number), n in f.open_by_status_priority.items():
            key = (status, PRIORITY_LABEL[int(number)])
            by[key] = by.get(key, 0) + n
        out[queue] = rounded(
            realdata.Figures(
                **{
                    **f.__dict__,
                    "open_by_status_priority": by,
                    "sla_breached_open": {"resolution": f.sla_breached_open["resolution"]},
                    "sla_at_risk": {"resolution": f.sla_at_risk["resolution"]},
                    "sla_breached_window": {"resolution": f.sla_breached_window["resolution"]},
                }
            )
        )
    return out


def without_probe(figures: dict[str, realdata.Figures]) -> dict[str, realdata.Figures]:
    return {q: f for q, f in figures.items() if q != PROBE}


class TestRequestTracker:
    @pytest.mark.parametrize("as_of", AS_OF, ids=lambda d: d.strftime("%Y-%m-%dT%H%M"))
    def test_figures_match_pandas(
        self, as_of: datetime, pg_database: str, collect: Callable[..., Snapshot]
    ) -> None:
        """Every figure of every queue equals realdata.expected for several windows."""
        view = rt_view(realdata.at(naive(as_of)))
        load(pg_database, view, special_tickets(view, as_of))
        for length in WINDOWS:
            window = Window(as_of - length, as_of)
            assert without_probe(got(collect(pg_database, window))) == want(view, window)

    def test_source_total_counts_each_ticket_once(
        self, pg_database: str, collect: Callable[..., Snapshot]
    ) -> None:
        """The source's figures equal realdata.expected over all queues at once."""
        as_of = AS_OF[1]
        view = rt_view(realdata.at(naive(as_of)))
        load(pg_database, view)
        for length in WINDOWS:
            window = Window(as_of - length, as_of)
            snapshot = collect(pg_database, window)
            assert snapshot.total is not None
            total = want(view.assign(group=TOTAL_QUEUE), window)
            assert {TOTAL_QUEUE: figures(snapshot.total)} == total

    def test_merged_reminder_approval_and_deleted_are_excluded(
        self, pg_database: str, collect: Callable[..., Snapshot]
    ) -> None:
        """Merged tickets, reminders, approvals and deleted tickets count nowhere."""
        as_of = AS_OF[0]
        view = rt_view(realdata.at(naive(as_of)))
        load(pg_database, view, special_tickets(view, as_of))
        window = Window(as_of - timedelta(hours=1), as_of)
        snapshot = got(collect(pg_database, window))
        busiest = str(view["group"].value_counts().index[0])
        assert "___Approvals" not in snapshot
        assert snapshot[busiest] == want(view, window)[busiest]
        everything = got(collect(pg_database, window, where=None))
        assert everything[busiest].created == want(view, window)[busiest].created + 3
        assert everything[busiest].resolved == want(view, window)[busiest].resolved + 1
        open_now = sum(want(view, window)[busiest].open_by_status_priority.values())
        assert sum(everything[busiest].open_by_status_priority.values()) == open_now + 2
        assert "___Approvals" in everything

    def test_unset_dates_are_not_deadlines_or_resolutions(
        self, pg_database: str, collect: Callable[..., Snapshot]
    ) -> None:
        """A 1970 due is no breach and a 1970 resolved is no resolution, in any window."""
        as_of = AS_OF[0]
        view = rt_view(realdata.at(naive(as_of)))
        load(pg_database, view, special_tickets(view, as_of))
        for start in (datetime(1969, 12, 31, tzinfo=UTC), as_of - timedelta(hours=1)):
            probe = {q.queue: q for q in collect(pg_database, Window(start, as_of)).queues}[PROBE]
            assert probe.open_by_status_priority == {("open", "Medium"): 1}
            assert probe.resolved == 0
            assert probe.sla_breached_open == {"resolution": 0}
            assert probe.sla_breached_window == {"resolution": 0}
            assert probe.oldest_age_s == 30 * 60

    def test_priority_labels_follow_priority_as_string(self) -> None:
        """The preset's label is the highest default threshold not above the value."""
        engine = sa.create_engine("sqlite://")
        expression = rt.PRESET["priority"]
        with engine.connect() as conn:
            labels = {
                value: conn.execute(
                    sa.text(f"SELECT {expression} FROM (SELECT :v AS priority) t"), {"v": value}
                ).scalar()
                for value in (-1, 0, 49, 50, 99, 100, 250)
            }
        engine.dispose()
        assert labels == {
            -1: "unknown",
            0: "Low",
            49: "Low",
            50: "Medium",
            99: "Medium",
            100: "High",
            250: "High",
        }

    def test_first_response_ignores_the_requestor(
        self, pg_database: str, collect: Callable[..., Snapshot]
    ) -> None:
        """Counting the requestor's own Correspond as a response changes the averages."""
        as_of = AS_OF[1]
        view = rt_view(realdata.at(naive(as_of)))
        load(pg_database, view)
        window = Window(as_of - timedelta(days=7), as_of)
        anyone = rt.FIRST_RESPONSE_AT.replace(" AND tr.creator <> t.creator", "")
        naive_figures = got(collect(pg_database, window, first_response_at=anyone))
        right = got(collect(pg_database, window))
        assert right == want(view, window)
        assert any(
            naive_figures[q].avg_first_response_s != right[q].avg_first_response_s for q in right
        )

    def test_no_first_response_deadline(
        self, pg_database: str, collect: Callable[..., Snapshot]
    ) -> None:
        """RT has no first-response deadline: SLA figures are keyed by resolution only."""
        as_of = AS_OF[0]
        view = rt_view(realdata.at(naive(as_of)))
        load(pg_database, view)
        snapshot = collect(pg_database, Window(as_of - timedelta(days=1), as_of))
        assert {tuple(q.sla_breached_open or {}) for q in snapshot.queues} == {("resolution",)}
        assert all(q.reopened is not None for q in snapshot.queues)


WITHHELD = (
    Withheld(("users",), ("assignee",), frozenset({"unassigned"})),
    Withheld(
        ("transactions",),
        ("first_response_at", "reopened_at"),
        frozenset({"first_response", "reopened"}),
    ),
    Withheld(
        ("users", "transactions"),
        ("assignee", "first_response_at", "reopened_at"),
        frozenset({"unassigned", "first_response", "reopened"}),
    ),
)
"""Each optional table in turn, then both (a role granted tickets and queues only)."""
SOURCE = {"kind": "sql", "name": "rt", "mapping": {"preset": "rt"}}


@pytest.fixture(scope="module")
def april() -> Iterator[tuple[str, pd.DataFrame]]:
    """A PostgreSQL schema with RT's tables as of 1 April 2016, loaded once."""
    with fresh_postgres() as url:
        view = rt_view(realdata.at(naive(AS_OF[1])))
        load(url, view)
        yield url, view


class TestRequestTrackerWithoutGrants:
    @pytest.mark.parametrize("case", WITHHELD, ids=lambda c: "+".join(c.tables))
    def test_optional_table_not_readable(
        self,
        case: Withheld,
        april: tuple[str, pd.DataFrame],
        preset_collectors: BuildCollector,
        tmp_path: Path,
    ) -> None:
        """The poll succeeds with the core figures exact and the figures of the withheld
        table absent (not 0), named with their grant in the snapshot, the metric and
        check-config --connect (exit 0); a broken core field still exits 2."""
        url, view = april
        window = Window(AS_OF[1] - timedelta(days=1), AS_OF[1])
        [total] = realdata.queues(want(view.assign(group=TOTAL_QUEUE), window))
        verify_without(
            case,
            url,
            ("tickets", "queues", "users", "transactions"),
            lambda reader_url: preset_collectors("rt", reader_url).collect(window),
            realdata.queues(want(view, window)),
            total,
            tmp_path,
            SOURCE,
        )


def documented_category() -> str:
    """The ``category`` expression docs/presets/rt.md gives for a custom field."""
    doc = (Path(__file__).resolve().parents[3] / "docs" / "presets" / "rt.md").read_text(
        encoding="utf-8"
    )
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", doc, re.S) if "customfields" in b]
    assert len(blocks) == 1
    return str(yaml.safe_load(blocks[0])["mapping"]["category"])


CATEGORY, IMPACT = 1, 2
"""The custom fields: the category (the documented block names it) and another one."""


def custom_values(view: pd.DataFrame) -> pd.DataFrame:
    """``objectcustomfieldvalues`` rows: each ticket's ServiceNow category as its current
    Category value (none where the log has none); every 11th ticket a second current
    value, every 13th an older disabled value (which MIN would pick were it counted), every
    5th a value of the other field."""
    last = incident_events().groupby("id")["category"].last()
    category = view["number"].map(last.where(last != "?"))
    rows: list[dict[str, Any]] = []

    def value(ticket: int, field: int, content: str, disabled: int = 0) -> None:
        rows.append(
            {
                "id": len(rows) + 1,
                "customfield": field,
                "objecttype": "RT::Ticket",
                "objectid": ticket,
                "content": content,
                "disabled": disabled,
            }
        )

    for ticket, name in zip(view["id"], category, strict=True):
        if isinstance(name, str):
            value(ticket, CATEGORY, name)
        if ticket % 11 == 0:
            value(ticket, CATEGORY, "Category 0 (second value)")
        if ticket % 13 == 0:
            value(ticket, CATEGORY, "AAA replaced", disabled=1)
        if ticket % 5 == 0:
            value(ticket, IMPACT, "AAA impact")
    return pd.DataFrame(rows)


class TestRequestTrackerCategories:
    @pytest.mark.parametrize("engine", ["sqlite", "postgresql", "mariadb"])
    def test_top_categories_from_the_documented_custom_field(
        self, engine: str, tmp_path: Path, request: pytest.FixtureRequest
    ) -> None:
        """docs/presets/rt.md's category mapping: each ticket's first current value of the
        Category custom field (none without one), top 5 by open tickets and by arrivals
        per queue, then other; equal to pandas over the rows loaded, on three databases."""
        url = {
            "sqlite": lambda: f"sqlite:///{tmp_path}/rt.db",
            "postgresql": lambda: request.getfixturevalue("pg_database"),
            "mariadb": lambda: request.getfixturevalue("mariadb_database"),
        }[engine]()
        as_of = AS_OF[1]
        view = rt_view(realdata.at(naive(as_of)))
        load(url, view)
        values = custom_values(view)
        db = sa.create_engine(url)
        try:
            with db.begin() as conn:
                conn.execute(
                    customfields.insert(),
                    [
                        {"id": CATEGORY, "name": "Category", "lookuptype": "RT::Queue-RT::Ticket"},
                        {"id": IMPACT, "name": "Impact", "lookuptype": "RT::Queue-RT::Ticket"},
                    ],
                )
                copy_rows(conn, objectcustomfieldvalues, values.to_dict("records"))
        finally:
            db.dispose()
        config = SqlSourceConfig.model_validate(
            {
                "kind": "sql",
                "name": "rt",
                "url": url,
                "timeout": "120s",
                "mapping": {"preset": "rt", "category": documented_category()},
                "workload": {"top_categories": 5},
            }
        )
        collector = SqlCollector(config)
        window = Window(as_of - timedelta(days=7), as_of)
        try:
            snapshot = collector.collect(window)
        finally:
            collector.close()
        current = values[(values["customfield"] == CATEGORY) & (values["disabled"] == 0)]
        first = current.groupby("objectid")["content"].min()
        named = view["id"].map(first).fillna("none")
        is_open = view["status"].isin(["new", "open", "stalled"])
        came = (view["opened_at"] >= naive(window.start)) & (view["opened_at"] < naive(as_of))
        assert named[is_open].nunique() > 5 and (named == "Category 0 (second value)").any()
        check_categories(snapshot, view["group"], named, is_open, came)
