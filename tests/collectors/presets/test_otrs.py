"""The OTRS/Znuny preset on MariaDB, against real ServiceNow incidents loaded into Znuny's tables.

The tables are Znuny's (``scripts/database/schema.xml`` as its MySQL driver creates them),
with the state types, states, priorities, history types and sender types of
``initial_insert.xml``. Close times live only in ``ticket_history`` and first responses
only in ``article``; escalation columns hold epoch seconds and are reset to 0 once the
ticket is answered / closed, as Znuny does. Expected figures come from :func:`realdata.expected`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from collectors.base import TOTAL_QUEUE, QueueStats, Window
from collectors.presets import PRESETS, otrs
from collectors.sql import SqlCollector
from tests.collectors.presets import realdata
from tests.collectors.presets.access import (
    Withheld,
    reader,
    verify_core_table_required,
    verify_degraded,
    verify_without,
)
from tests.collectors.presets.conftest import BuildCollector
from tests.conftest import MARIADB_ADMIN_URL, require_service

pytestmark = pytest.mark.mariadb

DDL = """
CREATE TABLE ticket (
    id BIGINT NOT NULL AUTO_INCREMENT,
    tn VARCHAR(50) NOT NULL,
    title VARCHAR(255) NULL,
    queue_id INTEGER NOT NULL,
    ticket_lock_id SMALLINT NOT NULL,
    type_id SMALLINT NULL,
    service_id INTEGER NULL,
    sla_id INTEGER NULL,
    user_id INTEGER NOT NULL,
    responsible_user_id INTEGER NOT NULL,
    ticket_priority_id SMALLINT NOT NULL,
    ticket_state_id SMALLINT NOT NULL,
    customer_id VARCHAR(150) NULL,
    customer_user_id VARCHAR(250) NULL,
    timeout INTEGER NOT NULL,
    until_time INTEGER NOT NULL,
    escalation_time INTEGER NOT NULL,
    escalation_update_time INTEGER NOT NULL,
    escalation_response_time INTEGER NOT NULL,
    escalation_solution_time INTEGER NOT NULL,
    archive_flag SMALLINT NOT NULL DEFAULT 0,
    create_time DATETIME NOT NULL,
    create_by INTEGER NOT NULL,
    change_time DATETIME NOT NULL,
    change_by INTEGER NOT NULL,
    PRIMARY KEY(id),
    UNIQUE INDEX ticket_tn (tn),
    INDEX ticket_archive_flag (archive_flag),
    INDEX ticket_create_time (create_time),
    INDEX ticket_escalation_response_time (escalation_response_time),
    INDEX ticket_escalation_solution_time (escalation_solution_time),
    INDEX ticket_escalation_time (escalation_time),
    INDEX ticket_queue_id (queue_id),
    INDEX ticket_queue_view (ticket_state_id, ticket_lock_id),
    INDEX ticket_ticket_priority_id (ticket_priority_id),
    INDEX ticket_ticket_state_id (ticket_state_id),
    INDEX ticket_user_id (user_id)
);
CREATE TABLE queue (
    id INTEGER NOT NULL AUTO_INCREMENT,
    name VARCHAR(200) NOT NULL,
    group_id INTEGER NOT NULL,
    system_address_id SMALLINT NOT NULL,
    salutation_id SMALLINT NOT NULL,
    signature_id SMALLINT NOT NULL,
    follow_up_id SMALLINT NOT NULL,
    follow_up_lock SMALLINT NOT NULL,
    valid_id SMALLINT NOT NULL,
    create_time DATETIME NOT NULL,
    create_by INTEGER NOT NULL,
    change_time DATETIME NOT NULL,
    change_by INTEGER NOT NULL,
    PRIMARY KEY(id),
    UNIQUE INDEX queue_name (name)
);
CREATE TABLE ticket_state_type (
    id SMALLINT NOT NULL AUTO_INCREMENT,
    name VARCHAR(200) NOT NULL,
    comments VARCHAR(250) NULL,
    create_time DATETIME NOT NULL,
    create_by INTEGER NOT NULL,
    change_time DATETIME NOT NULL,
    change_by INTEGER NOT NULL,
    PRIMARY KEY(id),
    UNIQUE INDEX ticket_state_type_name (name)
);
CREATE TABLE ticket_state (
    id SMALLINT NOT NULL AUTO_INCREMENT,
    name VARCHAR(200) NOT NULL,
    comments VARCHAR(250) NULL,
    type_id SMALLINT NOT NULL,
    valid_id SMALLINT NOT NULL,
    create_time DATETIME NOT NULL,
    create_by INTEGER NOT NULL,
    change_time DATETIME NOT NULL,
    change_by INTEGER NOT NULL,
    PRIMARY KEY(id),
    UNIQUE INDEX ticket_state_name (name)
);
CREATE TABLE ticket_priority (
    id SMALLINT NOT NULL AUTO_INCREMENT,
    name VARCHAR(200) NOT NULL,
    valid_id SMALLINT NOT NULL,
    create_time DATETIME NOT NULL,
    create_by INTEGER NOT NULL,
    change_time DATETIME NOT NULL,
    change_by INTEGER NOT NULL,
    PRIMARY KEY(id),
    UNIQUE INDEX ticket_priority_name (name)
);
CREATE TABLE ticket_history_type (
    id SMALLINT NOT NULL AUTO_INCREMENT,
    name VARCHAR(200) NOT NULL,
    comments VARCHAR(250) NULL,
    valid_id SMALLINT NOT NULL,
    create_time DATETIME NOT NULL,
    create_by INTEGER NOT NULL,
    change_time DATETIME NOT NULL,
    change_by INTEGER NOT NULL,
    PRIMARY KEY(id),
    UNIQUE INDEX ticket_history_type_name (name)
);
CREATE TABLE ticket_history (
    id BIGINT NOT NULL AUTO_INCREMENT,
    name VARCHAR(200) NOT NULL,
    history_type_id SMALLINT NOT NULL,
    ticket_id BIGINT NOT NULL,
    article_id BIGINT NULL,
    type_id SMALLINT NOT NULL,
    queue_id INTEGER NOT NULL,
    owner_id INTEGER NOT NULL,
    priority_id SMALLINT NOT NULL,
    state_id SMALLINT NOT NULL,
    create_time DATETIME NOT NULL,
    create_by INTEGER NOT NULL,
    change_time DATETIME NOT NULL,
    change_by INTEGER NOT NULL,
    PRIMARY KEY(id),
    INDEX ticket_history_create_time (create_time),
    INDEX ticket_history_history_type_id (history_type_id),
    INDEX ticket_history_state_id (state_id),
    INDEX ticket_history_ticket_id (ticket_id)
);
CREATE TABLE article_sender_type (
    id SMALLINT NOT NULL AUTO_INCREMENT,
    name VARCHAR(200) NOT NULL,
    comments VARCHAR(250) NULL,
    valid_id SMALLINT NOT NULL,
    create_time DATETIME NOT NULL,
    create_by INTEGER NOT NULL,
    change_time DATETIME NOT NULL,
    change_by INTEGER NOT NULL,
    PRIMARY KEY(id),
    UNIQUE INDEX article_sender_type_name (name)
);
CREATE TABLE article (
    id BIGINT NOT NULL AUTO_INCREMENT,
    ticket_id BIGINT NOT NULL,
    article_sender_type_id SMALLINT NOT NULL,
    communication_channel_id BIGINT NOT NULL,
    is_visible_for_customer SMALLINT NOT NULL,
    search_index_needs_rebuild SMALLINT NOT NULL DEFAULT 1,
    insert_fingerprint VARCHAR(64) NULL,
    create_time DATETIME NOT NULL,
    create_by INTEGER NOT NULL,
    change_time DATETIME NOT NULL,
    change_by INTEGER NOT NULL,
    PRIMARY KEY(id),
    INDEX article_article_sender_type_id (article_sender_type_id),
    INDEX article_ticket_id (ticket_id)
)
"""
"""The tables the preset reads, as Znuny's MySQL driver creates them from schema.xml."""

EPOCH = datetime(2016, 1, 1)
STATE_TYPES = {
    1: "new",
    2: "open",
    3: "closed",
    4: "pending reminder",
    5: "pending auto",
    6: "removed",
    7: "merged",
}
STATES = {
    1: ("new", 1),
    2: ("closed successful", 3),
    3: ("closed unsuccessful", 3),
    4: ("open", 2),
    5: ("removed", 6),
    6: ("pending reminder", 4),
    7: ("pending auto close+", 5),
    8: ("pending auto close-", 5),
    9: ("merged", 7),
}
STATE_OF = {"new": 1, "open": 4, "pending": 6, "resolved": 2, "closed": 3}
STATUS_LABEL = {"new": "new", "open": "open", "pending": "pending reminder"}
PRIORITIES = {1: "1 very low", 2: "2 low", 3: "3 normal", 4: "4 high", 5: "5 very high"}
PRIORITY_OF = {1: 5, 2: 4, 3: 3, 4: 2}
"""ServiceNow priority (1 critical .. 4 low) -> Znuny ticket_priority.id."""
PRIORITY_LABEL = {p: PRIORITIES[i] for p, i in PRIORITY_OF.items()}
HISTORY_TYPES = {1: "NewTicket", 8: "SendAnswer", 15: "AddNote", 25: "Misc", 27: "StateUpdate"}
SENDERS = {"agent": 1, "system": 2, "customer": 3}
ROOT = 1
OPEN = ("new", "open", "pending")

REOPENED_AT = (
    "SELECT MAX(h.create_time) FROM ticket_history h"
    " JOIN ticket_history_type ht ON ht.id = h.history_type_id"
    " JOIN ticket_state hs ON hs.id = h.state_id"
    " JOIN ticket_state_type hst ON hst.id = hs.type_id"
    " WHERE h.ticket_id = t.id AND ht.name = 'StateUpdate' AND hst.name <> 'closed'"
    " AND (SELECT pst.name FROM ticket_history ph"
    " JOIN ticket_history_type pht ON pht.id = ph.history_type_id"
    " JOIN ticket_state ps ON ps.id = ph.state_id"
    " JOIN ticket_state_type pst ON pst.id = ps.type_id"
    " WHERE ph.ticket_id = t.id AND ph.id < h.id"
    " AND pht.name IN ('StateUpdate', 'NewTicket')"
    " ORDER BY ph.id DESC LIMIT 1) = 'closed'"
)
"""The documented opt-in ``reopened_at``: the last state change out of a closed state."""

CASES = (
    (datetime(2016, 4, 1, tzinfo=UTC), (timedelta(days=1), timedelta(days=7))),
    (datetime(2016, 3, 15, 13, tzinfo=UTC), (timedelta(hours=1), timedelta(days=1))),
)


def naive(instant: datetime) -> datetime:
    return instant.astimezone(UTC).replace(tzinfo=None)


def when(value: Any) -> datetime | None:
    return None if pd.isna(value) else pd.Timestamp(value).to_pydatetime()


def epoch(value: Any) -> int:
    return 0 if pd.isna(value) else int(pd.Timestamp(value).tz_localize("UTC").timestamp())


def stamp(at: datetime | None = None) -> dict[str, Any]:
    moment = at or EPOCH
    return {"create_time": moment, "create_by": ROOT, "change_time": moment, "change_by": ROOT}


def _history(i: int, r: Any) -> list[tuple[str, int, datetime]]:
    """(history type, state id, time) rows of one incident, in order."""
    opened, resolved = when(r.opened_at), when(r.resolved_at)
    assert opened is not None
    done = r.state in ("resolved", "closed")
    if done and resolved == opened:  # created closed: only NewTicket records the close
        return [("NewTicket", STATE_OF[r.state], opened)]
    rows = [("NewTicket", STATE_OF["new"], opened)]
    if not pd.isna(r.first_response_at):
        rows.append(("StateUpdate", STATE_OF["open"], when(r.first_response_at) or opened))
    reopened = when(r.reopened_at)
    if reopened is not None:
        closed_before = max(opened, reopened - timedelta(minutes=1))
        if not done or resolved is None or closed_before < resolved:
            rows.append(("StateUpdate", STATE_OF["resolved"], closed_before))
            rows.append(("StateUpdate", STATE_OF["open"], reopened))
    if done and resolved is not None:
        rows.append(("StateUpdate", STATE_OF[r.state], resolved))
        if i % 4 == 0:  # a later history row of another type that names a closed state
            rows.append(("Misc", STATE_OF[r.state], resolved + timedelta(minutes=5)))
    return sorted(rows, key=lambda row: row[2])


def table_rows(rows: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
    """Znuny rows for the incidents ``rows``: tickets, history and articles."""
    queues = {name: i for i, name in enumerate(sorted(rows["group"].unique()), start=1)}
    users = {name: i for i, name in enumerate(sorted(rows["assignee"].dropna().unique()), 2)}
    types = {name: i for i, name in HISTORY_TYPES.items()}
    out: dict[str, list[dict[str, Any]]] = {
        "queue": [
            {
                "id": i,
                "name": name,
                "group_id": 1,
                "system_address_id": 1,
                "salutation_id": 1,
                "signature_id": 1,
                "follow_up_id": 1,
                "follow_up_lock": 0,
                "valid_id": 1,
                **stamp(),
            }
            for name, i in queues.items()
        ],
        "ticket": [],
        "ticket_history": [],
        "article": [],
    }
    for i, r in enumerate(rows.itertuples(index=False), start=1):
        opened = when(r.opened_at)
        is_open = r.state in OPEN
        owner = ROOT if pd.isna(r.assignee) else users[r.assignee]
        respond_by = (
            epoch(r.first_response_due_at) if is_open and pd.isna(r.first_response_at) else 0
        )
        solve_by = epoch(r.resolution_due_at) if is_open else 0
        out["ticket"].append(
            {
                "id": i,
                "tn": r.number,
                "queue_id": queues[r.group],
                "ticket_lock_id": 1 if owner == ROOT else 2,
                "type_id": 1,
                "user_id": owner,
                "responsible_user_id": ROOT,
                "ticket_priority_id": PRIORITY_OF[r.priority],
                "ticket_state_id": STATE_OF[r.state],
                "timeout": 0,
                "until_time": 0,
                "escalation_time": min([t for t in (respond_by, solve_by) if t] or [0]),
                "escalation_update_time": 0,
                "escalation_response_time": respond_by,
                "escalation_solution_time": solve_by,
                "archive_flag": 0,
                **stamp(opened),
            }
        )
        for kind, state, at in _history(i, r):
            out["ticket_history"].append(
                {
                    "name": f"%%{kind}",
                    "history_type_id": types[kind],
                    "ticket_id": i,
                    "type_id": 1,
                    "queue_id": queues[r.group],
                    "owner_id": owner,
                    "priority_id": PRIORITY_OF[r.priority],
                    "state_id": state,
                    **stamp(at),
                }
            )
        articles = [
            ("customer", 1, opened),  # the request
            ("system", 1, opened),  # the auto reply
            ("agent", 0, opened),  # an internal note: not a response
        ]
        if not pd.isna(r.first_response_at):
            articles.append(("agent", 1, when(r.first_response_at)))
        out["article"] += [
            {
                "ticket_id": i,
                "article_sender_type_id": SENDERS[sender],
                "communication_channel_id": 1,
                "is_visible_for_customer": visible,
                **stamp(at),
            }
            for sender, visible, at in articles
        ]
    return out


def load(url: str, rows: pd.DataFrame, *extra: dict[str, Any]) -> None:
    """Create Znuny's tables and fill them from ``rows`` (plus ``extra`` ticket rows)."""
    tables = {
        "ticket_state_type": [{"id": i, "name": n, **stamp()} for i, n in STATE_TYPES.items()],
        "ticket_state": [
            {"id": i, "name": n, "type_id": ty, "valid_id": 1, **stamp()}
            for i, (n, ty) in STATES.items()
        ],
        "ticket_priority": [
            {"id": i, "name": n, "valid_id": 1, **stamp()} for i, n in PRIORITIES.items()
        ],
        "ticket_history_type": [
            {"id": i, "name": n, "valid_id": 1, **stamp()} for i, n in HISTORY_TYPES.items()
        ],
        "article_sender_type": [
            {"id": i, "name": n, "valid_id": 1, **stamp()} for n, i in SENDERS.items()
        ],
        **table_rows(rows),
    }
    tables["ticket"] += list(extra)
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in DDL.split(";"):
                conn.exec_driver_sql(statement)
            for table, data in tables.items():
                columns = sorted({c for r in data for c in r})
                names = ", ".join(columns)
                values = ", ".join(f":{c}" for c in columns)
                conn.execute(
                    sa.text(f"INSERT INTO {table} ({names}) VALUES ({values})"),
                    [{c: r.get(c) for c in columns} for r in data],
                )
    finally:
        engine.dispose()


def expected(
    rows: pd.DataFrame, window: Window, *, reopened: bool = False
) -> tuple[QueueStats, ...]:
    """Pandas figures without SLA misses in the window (Znuny clears met deadlines)."""
    figures = realdata.expected(
        rows, naive(window.start), naive(window.end), STATUS_LABEL, PRIORITY_LABEL
    )
    return tuple(
        realdata.queue_stats(
            queue, f, sla_breached_window=None, reopened=f.reopened if reopened else None
        )
        for queue, f in sorted(figures.items())
    )


def comparable(queues: tuple[QueueStats, ...]) -> tuple[QueueStats, ...]:
    """Averages rounded to the millisecond; SLA misses in the window left out (see above)."""
    return realdata.rounded(queues, sla_breached_window=None)


@pytest.fixture(autouse=True)
def _preset(monkeypatch: pytest.MonkeyPatch) -> None:
    """The preset under test under both its names, whether or not the package registers it."""
    monkeypatch.setitem(PRESETS, "otrs", otrs.PRESET)
    monkeypatch.setitem(PRESETS, "znuny", otrs.PRESET)


@pytest.fixture
def make(preset_collectors: BuildCollector) -> Callable[..., SqlCollector]:
    """Collectors on the otrs/znuny preset with mapping overrides; closed after the test."""

    def build(url: str, preset: str = "znuny", **mapping: Any) -> SqlCollector:
        return preset_collectors(preset, url, **mapping)

    return build


@pytest.fixture(scope="module")
def database() -> Iterator[Callable[[], str]]:
    """Fresh MariaDB databases kept for the module: loading the real data takes seconds.

    Like ``mariadb_database`` (skipped without MariaDB, failed under ``CI=true``).
    """
    admin = require_service("MariaDB", MARIADB_ADMIN_URL)
    names: list[str] = []

    def create() -> str:
        names.append(f"t_{uuid.uuid4().hex[:10]}")
        with admin.begin() as conn:
            conn.execute(sa.text(f"CREATE DATABASE `{names[-1]}`"))
        url = sa.engine.make_url(MARIADB_ADMIN_URL).set(database=names[-1])
        return url.render_as_string(hide_password=False)

    yield create
    with admin.begin() as conn:
        for name in names:
            conn.execute(sa.text(f"DROP DATABASE `{name}`"))
    admin.dispose()


def gone(ticket_id: int, tn: str, state_id: int, opened: datetime) -> dict[str, Any]:
    """A ticket opened at ``opened`` in the first queue, in state ``state_id``, SLA running."""
    return {
        "id": ticket_id,
        "tn": tn,
        "queue_id": 1,
        "ticket_lock_id": 1,
        "type_id": 1,
        "user_id": ROOT,
        "responsible_user_id": ROOT,
        "ticket_priority_id": 3,
        "ticket_state_id": state_id,
        "timeout": 0,
        "until_time": 0,
        "escalation_time": 0,
        "escalation_update_time": 0,
        "escalation_response_time": epoch(opened + timedelta(minutes=10)),
        "escalation_solution_time": epoch(opened + timedelta(minutes=20)),
        "archive_flag": 0,
        **stamp(opened),
    }


@pytest.fixture(scope="module")
def stores(database: Callable[[], str]) -> Iterator[Callable[[datetime], tuple[str, pd.DataFrame]]]:
    """Per as-of instant, a database loaded once: the incidents then, plus a merged and a
    removed ticket opened half an hour before (which the preset must not count)."""
    loaded: dict[datetime, tuple[str, pd.DataFrame]] = {}

    def at(as_of: datetime) -> tuple[str, pd.DataFrame]:
        if as_of not in loaded:
            rows = realdata.at(naive(as_of))
            url = database()
            opened = naive(as_of) - timedelta(minutes=30)
            load(url, rows, gone(900_001, "MERGED", 9, opened), gone(900_002, "REMOVED", 5, opened))
            loaded[as_of] = (url, rows)
        return loaded[as_of]

    yield at


class TestOtrs:
    @pytest.mark.parametrize(("as_of", "lengths"), CASES, ids=["april", "march"])
    def test_figures_match_pandas(
        self, as_of: datetime, lengths: tuple[timedelta, ...], stores: Any, make: Any
    ) -> None:
        """Every figure Znuny can give equals the pandas one per queue and for the source,
        under both names."""
        url, rows = stores(as_of)
        for preset in ("znuny", "otrs"):
            collector = make(url, preset)
            for length in lengths:
                window = Window(as_of - length, as_of)
                snapshot = collector.collect(window)
                got = snapshot.queues
                assert comparable(got) == comparable(expected(rows, window))
                assert all(q.reopened is None for q in got)
                assert snapshot.total is not None
                total = expected(rows.assign(group=TOTAL_QUEUE), window)
                assert comparable((snapshot.total,)) == comparable(total)

    def test_data_exercises_every_figure(self) -> None:
        """The cases have open SLA breaches and risks, reopens, unassigned, closes at creation."""
        totals: dict[str, int] = {}
        for as_of, lengths in CASES:
            rows = realdata.at(naive(as_of))
            done = rows[~rows["state"].isin(OPEN)]
            totals["created_closed"] = totals.get("created_closed", 0) + int(
                (done["resolved_at"] == done["opened_at"]).sum()
            )
            for q in expected(rows, Window(as_of - max(lengths), as_of), reopened=True):
                for kind in ("first_response", "resolution"):
                    for name, figure in (
                        ("breached", q.sla_breached_open),
                        ("risk", q.sla_at_risk),
                    ):
                        key = f"{name}_{kind}"
                        totals[key] = totals.get(key, 0) + (figure or {})[kind]
                totals["unassigned"] = totals.get("unassigned", 0) + (q.unassigned or 0)
                totals["reopened"] = totals.get("reopened", 0) + (q.reopened or 0)
        assert all(n > 0 for n in totals.values()), totals

    def test_merged_and_removed_tickets_are_excluded(self, stores: Any, make: Any) -> None:
        """Merged and removed tickets opened in the window count nowhere."""
        as_of = CASES[1][0]
        url, rows = stores(as_of)
        window = Window(as_of - timedelta(hours=1), as_of)
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            states = conn.execute(sa.text("SELECT ticket_state_id FROM ticket WHERE id > 900000"))
            assert sorted(r[0] for r in states) == [5, 9]
        engine.dispose()

        got = make(url).collect(window).queues

        assert comparable(got) == comparable(expected(rows, window))

    def test_reopened_override_from_history(self, stores: Any, make: Any) -> None:
        """The documented history-based ``reopened_at`` override counts reopens in the window."""
        as_of = CASES[0][0]
        url, rows = stores(as_of)
        collector = make(url, reopened_at=REOPENED_AT)
        for length in (timedelta(days=1), timedelta(days=7)):
            window = Window(as_of - length, as_of)
            want = expected(rows, window, reopened=True)
            assert sum(q.reopened or 0 for q in want) > 0
            assert comparable(collector.collect(window).queues) == comparable(want)

    def test_sla_misses_in_window_are_unknown(self, stores: Any, make: Any) -> None:
        """Deadlines missed by tickets answered or closed since cannot be counted: None."""
        as_of = CASES[1][0]
        url, _ = stores(as_of)

        got = make(url).collect(Window(as_of - timedelta(days=1), as_of)).queues

        assert got
        assert all(q.sla_breached_window is None for q in got)


CORE_TABLES = (
    "ticket",
    "queue",
    "ticket_state",
    "ticket_state_type",
    "ticket_history",
    "ticket_history_type",
)
"""What the core figures read: the close time comes from the history."""
FIRST_RESPONSE = frozenset({"first_response", "sla_first_response"})
WITHHELD = (
    Withheld(("ticket_priority",), ("priority",), frozenset({"priority"})),
    Withheld(("article",), ("first_response_at",), FIRST_RESPONSE),
    Withheld(("article_sender_type",), ("first_response_at",), FIRST_RESPONSE),
    Withheld(
        ("ticket_priority", "article", "article_sender_type"),
        ("priority", "first_response_at"),
        FIRST_RESPONSE | {"priority"},
    ),
)
"""Each optional table in turn, then all of them (a user granted the core tables only)."""
SOURCE = {"kind": "sql", "name": "znuny", "mapping": {"preset": "znuny"}}


TABLES = (*CORE_TABLES, "ticket_priority", "article", "article_sender_type")


class TestOtrsWithoutGrants:
    @pytest.mark.parametrize("case", WITHHELD, ids=lambda c: "+".join(c.tables))
    def test_optional_table_not_readable(
        self, case: Withheld, stores: Any, make: Any, tmp_path: Path
    ) -> None:
        """The poll succeeds with the core figures exact and the figures of the withheld
        table absent (not 0), named with their grant in the snapshot, the metric and
        check-config --connect (exit 0); a broken core field still exits 2."""
        as_of = CASES[0][0]
        url, rows = stores(as_of)
        window = Window(as_of - timedelta(days=1), as_of)
        verify_without(
            case,
            url,
            TABLES,
            lambda reader_url: make(reader_url).collect(window),
            expected(rows, window),
            expected(rows.assign(group=TOTAL_QUEUE), window)[0],
            tmp_path,
            SOURCE,
        )

    def test_core_table_not_readable_is_an_error(self, stores: Any, tmp_path: Path) -> None:
        """Without ticket_history (close times) check-config --connect exits 2 and names
        the grant."""
        url, _ = stores(CASES[0][0])
        verify_core_table_required(url, TABLES, "ticket_history", tmp_path, SOURCE)

    def test_grant_revoked_and_given_back_while_running(self, stores: Any, make: Any) -> None:
        """A running collector whose grant on article is revoked reports first response
        absent at the next poll, the rest exact; given back, it returns at the hourly check."""
        as_of = CASES[0][0]
        url, rows = stores(as_of)
        window = Window(as_of - timedelta(days=1), as_of)
        case = WITHHELD[1]
        with reader(url, TABLES) as user:
            collector = make(user.url)
            assert all(f.available for f in collector.collect(window).figures if f.mapped)
            user.revoke("article")
            revoked = collector.collect(window)
            total = expected(rows.assign(group=TOTAL_QUEUE), window)[0]
            verify_degraded(revoked, case, user, expected(rows, window), total)
            user.grant("article")
            soon = collector.collect(window)
            later = Window(as_of, as_of + timedelta(hours=1))
            back = collector.collect(later)
        assert {f.name for f in soon.figures if not f.available and f.mapped} == case.absent
        assert all(f.available for f in back.figures if f.mapped)
        assert comparable(back.queues) == comparable(expected(rows, later))
