"""The Zammad preset on Zammad's own tables (PostgreSQL), filled with real ServiceNow incidents.

The tables, columns, types, lookup rows and state codes are Zammad's
(``db/migrate/20120101000010_create_ticket.rb``, ``db/seeds/ticket_state*.rb``,
``db/seeds/ticket_priorities.rb``, the ``histories`` tables of the base migration). The
escalation columns are set and cleared as ``lib/escalation.rb`` does. Every expected
figure comes from :func:`realdata.expected` (pandas), never from SQL.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateTable

from collectors.base import TOTAL_QUEUE, QueueStats, Snapshot, Window
from collectors.sql import SqlCollector, SqlSourceConfig
from tests.collectors.presets import realdata
from tests.collectors.presets.access import (
    Withheld,
    verify_core_table_required,
    verify_without,
)
from tests.collectors.presets.conftest import BuildCollector
from tests.collectors.stores.incidents import incident_events
from tests.collectors.test_workload import top
from tests.collectors.upstream.dbs import fresh_postgres

pytestmark = pytest.mark.postgres

AS_OF = (
    datetime(2016, 3, 15, tzinfo=UTC),
    datetime(2016, 4, 1, tzinfo=UTC),
    datetime(2016, 5, 10, 13, 30, tzinfo=UTC),
)
WINDOWS = (timedelta(hours=1), timedelta(days=1), timedelta(days=7))

STATES = {"new": 1, "open": 2, "pending": 3, "resolved": 4, "closed": 4}
"""realdata state -> Zammad ``ticket_states.id`` (seeded ids; resolved and closed are closed)."""
STATUS_LABEL = {"new": "new", "open": "open", "pending": "pending reminder"}
PRIORITIES = {4: 1, 3: 2, 2: 3, 1: 4}
"""realdata priority (1 critical .. 4 low) -> ``ticket_priorities.id``."""
PRIORITY_LABEL = {4: "1 low", 3: "2 normal", 2: "3 high", 1: "4 urgent"}
SYSTEM_USER = 1
CUSTOMER = 2

TIMESTAMP3 = sa.DateTime().with_variant(postgresql.TIMESTAMP(precision=3), "postgresql")

metadata = sa.MetaData()


def _audit() -> list[sa.Column[Any]]:
    """Rails' ``created_by_id``/``updated_by_id`` and ``t.timestamps limit: 3``."""
    return [
        sa.Column("updated_by_id", sa.Integer, nullable=False, default=1),
        sa.Column("created_by_id", sa.Integer, nullable=False, default=1),
        sa.Column("created_at", TIMESTAMP3, nullable=False),
        sa.Column("updated_at", TIMESTAMP3, nullable=False),
    ]


users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("login", sa.String(255), nullable=False, unique=True),
    sa.Column("firstname", sa.String(100)),
    sa.Column("lastname", sa.String(100)),
    sa.Column("email", sa.String(255), nullable=False, default=""),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    *_audit(),
)
groups = sa.Table(
    "groups",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(970), nullable=False, unique=True),
    sa.Column("name_last", sa.String(160)),
    sa.Column("parent_id", sa.Integer, sa.ForeignKey("groups.id")),
    sa.Column("assignment_timeout", sa.Integer),
    sa.Column("follow_up_possible", sa.String(100), nullable=False, default="yes"),
    sa.Column("follow_up_assignment", sa.Boolean, nullable=False, default=True),
    sa.Column("email_address_id", sa.Integer),
    sa.Column("signature_id", sa.Integer),
    sa.Column("note", sa.String(250)),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    *_audit(),
)
ticket_state_types = sa.Table(
    "ticket_state_types",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(250), nullable=False, unique=True),
    sa.Column("note", sa.String(250)),
    *_audit(),
)
ticket_states = sa.Table(
    "ticket_states",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("state_type_id", sa.BigInteger, sa.ForeignKey("ticket_state_types.id")),
    sa.Column("name", sa.String(250), nullable=False, unique=True),
    sa.Column("next_state_id", sa.Integer),
    sa.Column("ignore_escalation", sa.Boolean, nullable=False, default=False),
    sa.Column("default_create", sa.Boolean, nullable=False, default=False),
    sa.Column("default_follow_up", sa.Boolean, nullable=False, default=False),
    sa.Column("note", sa.String(250)),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    *_audit(),
)
ticket_priorities = sa.Table(
    "ticket_priorities",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(250), nullable=False, unique=True),
    sa.Column("default_create", sa.Boolean, nullable=False, default=False),
    sa.Column("ui_icon", sa.String(100)),
    sa.Column("ui_color", sa.String(100)),
    sa.Column("note", sa.String(250)),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    *_audit(),
)
_minutes = ("first_response", "close", "update")
tickets = sa.Table(
    "tickets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("group_id", sa.BigInteger, sa.ForeignKey("groups.id"), nullable=False),
    sa.Column("priority_id", sa.BigInteger, sa.ForeignKey("ticket_priorities.id"), nullable=False),
    sa.Column("state_id", sa.BigInteger, sa.ForeignKey("ticket_states.id"), nullable=False),
    sa.Column("organization_id", sa.BigInteger),
    sa.Column("number", sa.String(60), nullable=False, unique=True),
    sa.Column("title", sa.String(250), nullable=False),
    sa.Column("owner_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("note", sa.String(250)),
    sa.Column("first_response_at", TIMESTAMP3),
    sa.Column("first_response_escalation_at", TIMESTAMP3),
    sa.Column("first_response_in_min", sa.Integer),
    sa.Column("first_response_diff_in_min", sa.Integer),
    sa.Column("close_at", TIMESTAMP3),
    sa.Column("close_escalation_at", TIMESTAMP3),
    sa.Column("close_in_min", sa.Integer),
    sa.Column("close_diff_in_min", sa.Integer),
    sa.Column("update_escalation_at", TIMESTAMP3),
    sa.Column("update_in_min", sa.Integer),
    sa.Column("update_diff_in_min", sa.Integer),
    sa.Column("last_close_at", TIMESTAMP3),
    sa.Column("last_contact_at", TIMESTAMP3),
    sa.Column("last_contact_agent_at", TIMESTAMP3),
    sa.Column("last_contact_customer_at", TIMESTAMP3),
    sa.Column("last_owner_update_at", TIMESTAMP3),
    sa.Column("create_article_type_id", sa.Integer),
    sa.Column("create_article_sender_id", sa.Integer),
    sa.Column("article_count", sa.Integer),
    sa.Column("escalation_at", TIMESTAMP3),
    sa.Column("pending_time", TIMESTAMP3),
    sa.Column("type", sa.String(100)),
    sa.Column("time_unit", sa.Numeric(6, 2)),
    sa.Column("preferences", sa.Text),
    sa.Column("updated_by_id", sa.Integer, nullable=False, default=1),
    sa.Column("created_by_id", sa.Integer, nullable=False, default=1),
    sa.Column("created_at", TIMESTAMP3, nullable=False),
    sa.Column("updated_at", TIMESTAMP3, nullable=False),
    sa.Index(
        "index_tickets_on_group_id_and_state_id_and_created_at",
        "group_id",
        "state_id",
        "created_at",
    ),
    sa.Index(
        "index_tickets_on_group_id_and_state_id_and_close_at", "group_id", "state_id", "close_at"
    ),
)
history_types = sa.Table(
    "history_types",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(250), nullable=False, unique=True),
    sa.Column("created_at", TIMESTAMP3, nullable=False),
    sa.Column("updated_at", TIMESTAMP3, nullable=False),
)
history_objects = sa.Table(
    "history_objects",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(250), nullable=False, unique=True),
    sa.Column("note", sa.String(250)),
    sa.Column("created_at", TIMESTAMP3, nullable=False),
    sa.Column("updated_at", TIMESTAMP3, nullable=False),
)
history_attributes = sa.Table(
    "history_attributes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(250), nullable=False, unique=True),
    sa.Column("created_at", TIMESTAMP3, nullable=False),
    sa.Column("updated_at", TIMESTAMP3, nullable=False),
)
histories = sa.Table(
    "histories",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("history_type_id", sa.BigInteger, nullable=False),
    sa.Column("history_object_id", sa.BigInteger, nullable=False),
    sa.Column("history_attribute_id", sa.BigInteger),
    sa.Column("o_id", sa.Integer, nullable=False, index=True),
    sa.Column("related_o_id", sa.Integer),
    sa.Column("related_history_object_id", sa.Integer),
    sa.Column("id_to", sa.Integer),
    sa.Column("id_from", sa.Integer),
    sa.Column("value_from", sa.String(500)),
    sa.Column("value_to", sa.String(500)),
    sa.Column("created_by_id", sa.Integer, nullable=False),
    sa.Column("created_at", TIMESTAMP3, nullable=False),
    sa.Column("updated_at", TIMESTAMP3, nullable=False),
)

EPOCH = datetime(2012, 1, 1)
STATE_TYPES = [
    (1, "new"),
    (2, "open"),
    (3, "pending reminder"),
    (4, "pending action"),
    (5, "closed"),
    (6, "merged"),
    (7, "removed"),
]
SEEDED_STATES = [
    # id, name, state type, ignore_escalation (db/seeds/ticket_states.rb)
    (1, "new", 1, False),
    (2, "open", 2, False),
    (3, "pending reminder", 3, True),
    (4, "closed", 5, True),
    (5, "merged", 6, True),
    (6, "removed", 7, True),
    (7, "pending close", 4, True),
]


def lookup_rows() -> dict[sa.Table, list[dict[str, Any]]]:
    """Zammad's seeded lookup rows (plus a fourth priority an admin added)."""
    stamp = {"created_at": EPOCH, "updated_at": EPOCH}
    return {
        ticket_state_types: [{"id": i, "name": n, **stamp} for i, n in STATE_TYPES],
        ticket_states: [
            {"id": i, "name": n, "state_type_id": st, "ignore_escalation": ig, **stamp}
            for i, n, st, ig in SEEDED_STATES
        ],
        ticket_priorities: [
            {"id": i, "name": PRIORITY_LABEL[p], "default_create": i == 2, **stamp}
            for p, i in PRIORITIES.items()
        ],
        history_types: [
            {"id": 1, "name": "created", **stamp},
            {"id": 2, "name": "updated", **stamp},
        ],
        history_objects: [{"id": 1, "name": "Ticket", **stamp}, {"id": 2, "name": "User", **stamp}],
        history_attributes: [
            {"id": 1, "name": "state", **stamp},
            {"id": 2, "name": "owner", **stamp},
        ],
    }


def pytimes(column: pd.Series) -> list[datetime | None]:
    """A datetime column as Python datetimes, NaT as None."""
    return [None if pd.isna(v) else v.to_pydatetime() for v in column]


def zammad_view(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with the columns Zammad would hold, escalations cleared as lib/escalation.rb does.

    Closed tickets carry ``close_at``/``last_close_at``; a reopened ticket keeps the close
    before its reopening (neither is cleared); every tenth closed ticket is an import with
    ``close_at`` only. ``first_response_escalation_at`` is cleared once answered and
    ``close_escalation_at`` once closed (``close_at`` present); both while the state ignores
    escalation (pending reminder, closed).
    """
    view = rows.copy()
    closed = view["state"].isin(["resolved", "closed"])
    reopened_open = ~closed & view["reopened_at"].notna()
    earlier = (view["reopened_at"] - pd.Timedelta(hours=1)).where(
        view["reopened_at"] - pd.Timedelta(hours=1) > view["opened_at"], view["opened_at"]
    )
    view["last_close_at"] = view["resolved_at"].where(closed, earlier.where(reopened_open))
    view["close_at"] = view["last_close_at"]
    reclosed = closed & view["reopened_at"].notna()
    view.loc[reclosed, "close_at"] = earlier[reclosed]
    imported = closed & (view.index % 10 == 0) & ~reclosed
    view.loc[imported, "last_close_at"] = pd.NaT
    paused = view["state"].isin(["pending", "resolved", "closed"])
    view.loc[paused | view["first_response_at"].notna(), "first_response_due_at"] = pd.NaT
    view.loc[paused | view["close_at"].notna(), "resolution_due_at"] = pd.NaT
    return view


def load(url: str, view: pd.DataFrame, extra: list[dict[str, Any]] = ()) -> None:  # type: ignore[assignment]
    """Create Zammad's tables and fill them from ``view`` (see :func:`zammad_view`)."""
    group_ids = {g: i for i, g in enumerate(sorted(realdata.incidents()["group"].unique()), 1)}
    agents = sorted(view["assignee"].dropna().unique())
    agent_ids = {a: i for i, a in enumerate(agents, 10)}
    stamp = {"created_at": EPOCH, "updated_at": EPOCH}
    people = [
        {"id": SYSTEM_USER, "login": "-", **stamp},
        {"id": CUSTOMER, "login": "customer@example.com", **stamp},
    ] + [{"id": i, "login": a, **stamp} for a, i in agent_ids.items()]
    types = [None if pd.isna(v) else str(v) for v in view.get("type", [None] * len(view))]
    times = {
        column: pytimes(view[column])
        for column in (
            "opened_at",
            "first_response_at",
            "first_response_due_at",
            "close_at",
            "resolution_due_at",
            "last_close_at",
            "reopened_at",
        )
    }
    ticket_rows = [
        {
            "id": i + 1,
            "group_id": group_ids[r.group],
            "priority_id": PRIORITIES[r.priority],
            "state_id": STATES[r.state],
            "number": r.number,
            "title": r.number,
            "owner_id": SYSTEM_USER if pd.isna(r.assignee) else agent_ids[r.assignee],
            "customer_id": CUSTOMER,
            "created_by_id": CUSTOMER,
            "updated_by_id": SYSTEM_USER,
            "first_response_at": times["first_response_at"][i],
            "first_response_escalation_at": times["first_response_due_at"][i],
            "close_at": times["close_at"][i],
            "close_escalation_at": times["resolution_due_at"][i],
            "last_close_at": times["last_close_at"][i],
            "created_at": times["opened_at"][i],
            "updated_at": times["opened_at"][i],
            "type": types[i],
        }
        for i, r in enumerate(
            view[["group", "priority", "state", "number", "assignee"]].itertuples(index=False)
        )
    ]
    history_rows = [
        {
            "history_type_id": 2,
            "history_object_id": 1,
            "history_attribute_id": 1,
            "o_id": i + 1,
            "id_from": 4,
            "id_to": 2,
            "value_from": "closed",
            "value_to": "open",
            "created_by_id": CUSTOMER,
            "created_at": reopened,
            "updated_at": reopened,
        }
        for i, reopened in enumerate(times["reopened_at"])
        if reopened is not None
    ]
    engine = sa.create_engine(url)
    try:
        if engine.dialect.name == "mysql":
            # InnoDB refuses this transcription's BIGINT references to INTEGER keys:
            # the tables without their foreign keys (nothing here relies on them)
            with engine.begin() as conn:
                for table in metadata.sorted_tables:
                    conn.execute(CreateTable(table, include_foreign_key_constraints=[]))
        else:
            metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(users.insert(), people)
            conn.execute(
                groups.insert(),
                [{"id": i, "name": g, "name_last": g, **stamp} for g, i in group_ids.items()],
            )
            for table, rows in lookup_rows().items():
                conn.execute(table.insert(), rows)
            copy_rows(conn, tickets, ticket_rows + [{"type": None, **e} for e in extra])
            copy_rows(conn, histories, history_rows)
    finally:
        engine.dispose()


def copy_rows(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows fast: COPY on PostgreSQL, executemany elsewhere."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(table.insert(), rows)
        return
    names = list(rows[0])
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[n] for n in names])


@pytest.fixture
def collect(preset_collectors: BuildCollector) -> Callable[..., Snapshot]:
    """Collect once from ``url`` with preset zammad plus overrides."""

    def run(url: str, window: Window, **mapping: Any) -> Snapshot:
        return preset_collectors("zammad", url, **mapping).collect(window)

    return run


def figures(q: QueueStats) -> realdata.Figures:
    """A collected queue as :class:`realdata.Figures`, averages rounded to the millisecond."""
    return rounded(
        realdata.Figures(
            open_by_status_priority=dict(q.open_by_status_priority),
            created=q.created,  # type: ignore[arg-type]
            resolved=q.resolved,  # type: ignore[arg-type]
            oldest_age_s=q.oldest_age_s,
            older_than=dict(q.older_than or {}),
            age_quantiles=None if q.age_quantiles is None else dict(q.age_quantiles),
            unassigned=q.unassigned,  # type: ignore[arg-type]
            sla_breached_open=q.sla_breached_open,  # type: ignore[arg-type]
            sla_at_risk=q.sla_at_risk,  # type: ignore[arg-type]
            sla_breached_window=q.sla_breached_window,  # type: ignore[arg-type]
            avg_first_response_s=q.avg_first_response_s,
            avg_resolution_s=q.avg_resolution_s,
            reopened=q.reopened,  # type: ignore[arg-type]
        )
    )


def rounded(f: realdata.Figures) -> realdata.Figures:
    """Averages rounded to the millisecond; SLA maps as plain dicts."""

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value, 3)

    return dataclasses.replace(
        f,
        sla_breached_open=None if f.sla_breached_open is None else dict(f.sla_breached_open),  # type: ignore[arg-type]
        sla_at_risk=None if f.sla_at_risk is None else dict(f.sla_at_risk),  # type: ignore[arg-type]
        sla_breached_window=None if f.sla_breached_window is None else dict(f.sla_breached_window),  # type: ignore[arg-type]
        avg_first_response_s=ms(f.avg_first_response_s),
        avg_resolution_s=ms(f.avg_resolution_s),
    )


def got(snapshot: Snapshot) -> dict[str, realdata.Figures]:
    return {q.queue: figures(q) for q in snapshot.queues}


def want(view: pd.DataFrame, window: Window) -> dict[str, realdata.Figures]:
    expected = realdata.expected(
        view, naive(window.start), naive(window.end), STATUS_LABEL, PRIORITY_LABEL
    )
    return {q: rounded(f) for q, f in expected.items()}


def naive(instant: datetime) -> datetime:
    return instant.astimezone(UTC).replace(tzinfo=None)


def excluded_tickets(view: pd.DataFrame, as_of: datetime) -> list[dict[str, Any]]:
    """A merged and a removed ticket in the busiest queue: overdue, just created and closed."""
    busiest = view["group"].value_counts().index[0]
    group_id = sorted(realdata.incidents()["group"].unique()).index(busiest) + 1
    opened = naive(as_of) - timedelta(minutes=30)
    return [
        {
            "id": 900_000 + state_id,
            "group_id": group_id,
            "priority_id": 4,
            "state_id": state_id,
            "number": f"EXCLUDED{state_id}",
            "title": "excluded",
            "owner_id": SYSTEM_USER,
            "customer_id": CUSTOMER,
            "created_by_id": CUSTOMER,
            "updated_by_id": SYSTEM_USER,
            "first_response_at": None,
            "first_response_escalation_at": opened - timedelta(days=1),
            "close_at": opened + timedelta(minutes=10),
            "close_escalation_at": opened - timedelta(days=1),
            "last_close_at": opened + timedelta(minutes=10),
            "created_at": opened,
            "updated_at": opened,
        }
        for state_id in (5, 6)  # merged, removed
    ]


class TestZammad:
    @pytest.mark.parametrize("as_of", AS_OF, ids=lambda d: d.strftime("%Y-%m-%dT%H%M"))
    def test_figures_match_pandas(
        self, as_of: datetime, pg_database: str, collect: Callable[..., Snapshot]
    ) -> None:
        """Every figure of every queue and of the source equals realdata.expected for several
        windows."""
        view = zammad_view(realdata.at(naive(as_of)))
        load(pg_database, view, excluded_tickets(view, as_of))
        for length in WINDOWS:
            window = Window(as_of - length, as_of)
            snapshot = collect(pg_database, window)
            assert got(snapshot) == want(view, window)
            assert snapshot.total is not None
            total = want(view.assign(group=TOTAL_QUEUE), window)
            assert {TOTAL_QUEUE: figures(snapshot.total)} == total

    def test_data_exercises_every_figure(self) -> None:
        """The instants have SLA breaches, at-risk, reopened and unassigned tickets."""
        totals: dict[str, int] = dict.fromkeys(
            ("fr_breached", "res_breached", "at_risk", "breached_window", "reopened", "unassigned"),
            0,
        )
        for as_of in AS_OF:
            view = zammad_view(realdata.at(naive(as_of)))
            for f in want(view, Window(as_of - timedelta(days=7), as_of)).values():
                totals["fr_breached"] += f.sla_breached_open["first_response"]
                totals["res_breached"] += f.sla_breached_open["resolution"]
                totals["at_risk"] += sum(f.sla_at_risk.values())
                totals["breached_window"] += sum(f.sla_breached_window.values())
                totals["reopened"] += f.reopened
                totals["unassigned"] += f.unassigned
        assert all(n > 0 for n in totals.values()), totals

    def test_merged_and_removed_tickets_are_excluded(
        self, pg_database: str, collect: Callable[..., Snapshot]
    ) -> None:
        """Merged and removed tickets count nowhere: not open, not created, not breached."""
        as_of = AS_OF[0]
        view = zammad_view(realdata.at(naive(as_of)))
        extra = excluded_tickets(view, as_of)
        load(pg_database, view, extra)
        window = Window(as_of - timedelta(hours=1), as_of)
        busiest = str(view["group"].value_counts().index[0])
        assert got(collect(pg_database, window))[busiest] == want(view, window)[busiest]
        with_them = got(collect(pg_database, window, where=None))[busiest]
        assert with_them.created == want(view, window)[busiest].created + len(extra)
        assert with_them.resolved == want(view, window)[busiest].resolved + len(extra)

    def test_overriding_one_field_keeps_the_rest(
        self, pg_database: str, collect: Callable[..., Snapshot]
    ) -> None:
        """queue: UPPER(g.name) renames every queue and leaves every figure as it was."""
        as_of = AS_OF[1]
        view = zammad_view(realdata.at(naive(as_of)))
        load(pg_database, view)
        window = Window(as_of - timedelta(days=1), as_of)
        expected = {q.upper(): f for q, f in want(view, window).items()}
        assert got(collect(pg_database, window, queue="UPPER(g.name)")) == expected

    def test_unmapped_figure_is_none(
        self, pg_database: str, collect: Callable[..., Snapshot]
    ) -> None:
        """Without reopened_at and first_response_due_at those figures are None or absent."""
        as_of = AS_OF[0]
        view = zammad_view(realdata.at(naive(as_of)))
        load(pg_database, view)
        window = Window(as_of - timedelta(days=1), as_of)
        snapshot = collect(pg_database, window, reopened_at=None, first_response_due_at=None)
        assert {q.reopened for q in snapshot.queues} == {None}
        assert {tuple(q.sla_breached_open or {}) for q in snapshot.queues} == {("resolution",)}

    def test_reopened_ticket_is_not_resolved_until_closed_again(
        self, pg_database: str, collect: Callable[..., Snapshot]
    ) -> None:
        """An open ticket keeps close_at from before its reopening and is not counted resolved."""
        as_of = AS_OF[2]
        view = zammad_view(realdata.at(naive(as_of)))
        reopened_open = view[
            view["state"].isin(["new", "open", "pending"]) & view["close_at"].notna()
        ]
        assert len(reopened_open) > 0
        load(pg_database, view)
        start = reopened_open["close_at"].min().to_pydatetime().replace(tzinfo=UTC)
        window = Window(start, as_of)
        assert got(collect(pg_database, window)) == want(view, window)

    def test_pending_close_is_open_and_custom_state_names_show(
        self, pg_database: str, collect: Callable[..., Snapshot]
    ) -> None:
        """A 'pending close' ticket (state type pending action) counts open under its own name."""
        as_of = AS_OF[0]
        load(pg_database, zammad_view(realdata.at(naive(as_of))))
        opened = naive(as_of) - timedelta(hours=2)
        engine = sa.create_engine(pg_database)
        with engine.begin() as conn:
            conn.execute(
                groups.insert(),
                [
                    {
                        "id": 999,
                        "name": "Probe::Pending",
                        "name_last": "Pending",
                        "created_at": EPOCH,
                        "updated_at": EPOCH,
                    }
                ],
            )
            conn.execute(
                tickets.insert(),
                [
                    {
                        "id": 999_001,
                        "group_id": 999,
                        "priority_id": 2,
                        "state_id": 7,
                        "number": "PROBE1",
                        "title": "pending close",
                        "owner_id": SYSTEM_USER,
                        "customer_id": CUSTOMER,
                        "created_at": opened,
                        "updated_at": opened,
                    }
                ],
            )
        engine.dispose()
        snapshot = collect(pg_database, Window(as_of - timedelta(hours=1), as_of))
        probe = {q.queue: q for q in snapshot.queues}["Probe::Pending"]
        assert probe.open_by_status_priority == {("pending close", "2 normal"): 1}
        assert (probe.unassigned, probe.created, probe.oldest_age_s) == (1, 0, 2 * 3600)


CORE_TABLES = ("tickets", "groups", "ticket_states", "ticket_state_types")
HISTORY = ("histories", "history_objects", "history_attributes")
WITHHELD = (
    Withheld(("ticket_priorities",), ("priority",), frozenset({"priority"})),
    *(Withheld((table,), ("reopened_at",), frozenset({"reopened"})) for table in HISTORY),
    Withheld(
        ("ticket_priorities", *HISTORY),
        ("priority", "reopened_at"),
        frozenset({"priority", "reopened"}),
    ),
)
"""Each optional table in turn, then all of them (a role granted the core tables only)."""
SOURCE = {"kind": "sql", "name": "zammad", "mapping": {"preset": "zammad"}}


@pytest.fixture(scope="module")
def april() -> Iterator[tuple[str, pd.DataFrame]]:
    """A PostgreSQL schema with Zammad's tables as of 1 April 2016, loaded once."""
    with fresh_postgres() as url:
        view = zammad_view(realdata.at(naive(AS_OF[1])))
        load(url, view)
        yield url, view


class TestZammadWithoutGrants:
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
            (*CORE_TABLES, "ticket_priorities", *HISTORY),
            lambda reader_url: preset_collectors("zammad", reader_url).collect(window),
            realdata.queues(want(view, window)),
            total,
            tmp_path,
            SOURCE,
        )

    def test_core_table_not_readable_is_an_error(
        self, april: tuple[str, pd.DataFrame], tmp_path: Path
    ) -> None:
        """Without groups (the queue) check-config --connect exits 2 and names the grant."""
        url, _ = april
        tables = (*CORE_TABLES, "ticket_priorities", *HISTORY)
        verify_core_table_required(url, tables, "groups", tmp_path, SOURCE)


def incident_types() -> pd.Series:
    """Each incident's last logged ServiceNow ``category`` (None where the log has none),
    as the value of Zammad's ``type`` attribute (a select whose options admins edit)."""
    events = incident_events()
    last = events.groupby("id")["category"].last()
    return last.where(last != "?")


class TestZammadCategories:
    @pytest.mark.parametrize("engine", ["sqlite", "postgresql", "mariadb"])
    def test_top_categories_are_the_type_attribute(
        self, engine: str, tmp_path: Path, request: pytest.FixtureRequest
    ) -> None:
        """top_categories on the preset counts tickets.type (NULL as none), per group, by
        open tickets and by arrivals in the window, top 5 then other: equal to pandas over
        the rows loaded, on the three databases."""
        url = {
            "sqlite": lambda: f"sqlite:///{tmp_path}/zammad.db",
            "postgresql": lambda: request.getfixturevalue("pg_database"),
            "mariadb": lambda: request.getfixturevalue("mariadb_database"),
        }[engine]()
        as_of = AS_OF[1]
        view = zammad_view(realdata.at(naive(as_of)))
        view["type"] = view["number"].map(incident_types())
        load(url, view)
        window = Window(as_of - timedelta(days=7), as_of)
        config = SqlSourceConfig.model_validate(
            {
                "kind": "sql",
                "name": "zammad",
                "url": url,
                "mapping": {"preset": "zammad"},
                "workload": {"top_categories": 5},
            }
        )
        collector = SqlCollector(config)
        try:
            snapshot = collector.collect(window)
        finally:
            collector.close()
        named = view["type"].fillna("none")
        is_open = view["state"].isin(list(STATUS_LABEL))
        came = (view["opened_at"] >= naive(window.start)) & (view["opened_at"] < naive(as_of))
        assert named[is_open].nunique() > 5  # "other" is exercised
        check_categories(snapshot, view["group"], named, is_open, came)


def check_categories(
    snapshot: Snapshot, group: pd.Series, named: pd.Series, is_open: pd.Series, came: pd.Series
) -> None:
    """Each queue's top 5 categories by open tickets and by arrivals equal pandas' (each
    ticket's category ``named``, its queue ``group``), and every open ticket is counted."""
    seen = 0
    for q in snapshot.queues:
        w = q.workload
        assert w is not None
        mine = group == q.queue
        assert w.categories_open == top(named[mine & is_open].value_counts(), 5)
        assert w.categories_created == top(named[mine & came].value_counts(), 5)
        seen += sum((w.categories_open or {}).values())
    assert seen == int(is_open.sum())
