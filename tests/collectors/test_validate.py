"""Checking a mapping against the live schema at start, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from collectors.presets import PRESETS, rt
from collectors.sqlmap import SqlMapping
from collectors.sqlsession import open_engine
from collectors.validate import check_mapping, validate_mapping
from monitor.errors import SourceUnavailable
from tests.collectors.conftest import DEFAULT_MAPPING
from tests.collectors.conftest import metadata as generic_metadata
from tests.collectors.presets import test_rt, test_zammad

ZAMMAD = "sources -> 0 -> mapping"
MISSING = ("ticket_priorities", "histories")
"""Tables only optional figures read: the priority label, reopenings."""
MISSING_HISTORY = "table histories does not exist"


@pytest.fixture(
    params=[pytest.param("sqlite"), pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/tickets.db"
    pg: str = request.getfixturevalue("pg_database")
    return pg


@pytest.fixture
def engine(url: str) -> Iterator[sa.Engine]:
    """A read-only, time-limited engine as the collector opens it."""
    engine = open_engine(url, timedelta(seconds=10))
    yield engine
    engine.dispose()


def create(url: str, metadata: sa.MetaData) -> None:
    writer = sa.create_engine(url)
    metadata.create_all(writer)
    writer.dispose()


def zammad(**overrides: Any) -> SqlMapping:
    return SqlMapping.model_validate({"preset": "zammad", **overrides})


class TestValidateMapping:
    def test_valid_preset_has_no_problems(self, url: str, engine: sa.Engine) -> None:
        """The zammad preset on Zammad's tables yields no problem."""
        create(url, test_zammad.metadata)
        assert validate_mapping(engine, zammad(), "helpdesk") == []

    def test_valid_custom_mapping_has_no_problems(self, url: str, engine: sa.Engine) -> None:
        """A custom mapping whose columns exist yields no problem."""
        create(url, generic_metadata)
        assert validate_mapping(engine, SqlMapping.model_validate(DEFAULT_MAPPING), "x") == []

    def test_wrong_column_in_override_is_named(self, url: str, engine: sa.Engine) -> None:
        """queue: g.nam names the field, the table and the column."""
        create(url, test_zammad.metadata)
        problems = validate_mapping(engine, zammad(queue="g.nam"), "helpdesk")
        assert problems == [
            (f"{ZAMMAD} -> queue", "preset zammad: column groups.nam does not exist")
        ]

    def test_plain_column_of_base_table_is_named(self, url: str, engine: sa.Engine) -> None:
        """created_at: opened names the column of the ticket table."""
        create(url, test_zammad.metadata)
        problems = validate_mapping(engine, zammad(created_at="opened"), "helpdesk")
        assert problems == [
            (f"{ZAMMAD} -> created_at", "preset zammad: column tickets.opened does not exist")
        ]

    def test_wrong_column_inside_expression_is_named(self, url: str, engine: sa.Engine) -> None:
        """A bad column inside an SQL expression is reported with its field and the DB's message."""
        create(url, test_zammad.metadata)
        mapping = zammad(resolved_at="COALESCE(t.last_closed, t.close_at)")
        [(path, message)] = validate_mapping(engine, mapping, "helpdesk")
        assert path == f"{ZAMMAD} -> resolved_at"
        assert message.startswith("preset zammad: resolved_at: ")
        assert "last_closed" in message

    def test_broken_predicates_are_named(self, url: str, engine: sa.Engine) -> None:
        """where and open_sql the database rejects are each reported under their own path."""
        create(url, test_zammad.metadata)
        mapping = zammad(where="st.nome <> 'merged'", open_sql="st.name IN ('open'")
        problems = validate_mapping(engine, mapping, "helpdesk")
        assert [p for p, _ in problems] == [f"{ZAMMAD} -> where", f"{ZAMMAD} -> open_sql"]
        assert "nome" in problems[0][1]
        assert all(m.startswith("preset zammad: ") for _, m in problems)

    def test_missing_table_is_named(self, url: str, engine: sa.Engine) -> None:
        """A base table and a joined table that do not exist are named; nothing else is run."""
        create(url, test_zammad.metadata)
        joins = [
            *PRESETS["zammad"]["joins"],
            {"table": "organizations", "alias": "o", "on": "o.id = t.organization_id"},
        ]
        problems = validate_mapping(engine, zammad(table="ticket", joins=joins), "helpdesk", 3)
        assert problems == [
            ("sources -> 3 -> mapping -> table", "preset zammad: table ticket does not exist"),
            (
                "sources -> 3 -> mapping -> joins -> 4 -> table",
                "preset zammad: table organizations does not exist",
            ),
        ]

    def test_missing_optional_tables_are_warnings(self, url: str, engine: sa.Engine) -> None:
        """Without the priority lookup and the history tables the mapping has no problem,
        and a warning per field names the figures that will be absent and the table."""
        create(url, test_zammad.metadata)
        writer = sa.create_engine(url)
        cascade = " CASCADE" if writer.dialect.name == "postgresql" else ""
        with writer.begin() as conn:
            for table in MISSING:
                conn.execute(sa.text(f"DROP TABLE {table}{cascade}"))
        writer.dispose()

        checked = check_mapping(engine, zammad(), "helpdesk")

        assert checked.problems == []
        assert checked.warnings == [
            (
                f"{ZAMMAD} -> priority",
                "preset zammad: figure priority will be absent (not 0):"
                " table ticket_priorities does not exist",
            ),
            (
                f"{ZAMMAD} -> reopened_at",
                "preset zammad: figure reopened will be absent (not 0):"
                " table histories does not exist",
            ),
            (
                f"{ZAMMAD} -> first_assigned_at",
                "preset zammad: the time to first assignment will be absent:"
                " table histories does not exist",
            ),
            (
                f"{ZAMMAD} -> history",
                "preset zammad: waiting ages from the status entry and misroutes will be"
                " absent: table histories does not exist",
            ),
            *(
                (f"{ZAMMAD} -> past_state -> {name}", f"preset zammad: {what}: {MISSING_HISTORY}")
                for name, what in (
                    ("status", "the status as of a past instant (snapshot --as-of) cannot be read"),
                    (
                        "queue",
                        "the queue as of a past instant (snapshot --as-of, backfill)"
                        " cannot be read",
                    ),
                    ("queue_changes", "the rows that change the queue (backfill) cannot be read"),
                )
            ),
        ]

    def test_wrong_queue_changes_is_an_error(self, url: str, engine: sa.Engine) -> None:
        """``past_state.queue_changes`` (read by ``backfill`` only) is run too: a column its
        table does not have is an error under its path (exit 2)."""
        create(url, test_zammad.metadata)
        past = dict(PRESETS["zammad"]["past_state"])
        past["queue_changes"] = {**past["queue_changes"], "at": "changed_at"}
        [(path, message)] = validate_mapping(engine, zammad(past_state=past), "helpdesk")
        assert path == f"{ZAMMAD} -> past_state -> queue_changes"
        assert message.startswith("preset zammad: past_state.queue_changes: ")
        assert "changed_at" in message

    def test_wrong_column_in_past_state_is_an_error(self, url: str, engine: sa.Engine) -> None:
        """A ``past_state`` the configuration sets is checked on the live schema: a column
        that does not exist is an error under its path (exit 2), the other one passes."""
        create(url, test_zammad.metadata)
        past = {
            "status": "SELECT MAX(h.state) FROM histories h WHERE h.o_id = t.id"
            " AND h.created_at < :as_of",
            "queue": "SELECT MAX(h.id_to) FROM histories h WHERE h.o_id = t.id"
            " AND h.created_at < :as_of",
        }
        [(path, message)] = validate_mapping(engine, zammad(past_state=past), "helpdesk")
        assert path == f"{ZAMMAD} -> past_state -> status"
        assert message.startswith("preset zammad: past_state.status: ")
        assert "h.state" in message.removeprefix("preset zammad: past_state.status: ")

    def test_missing_table_in_past_state_is_an_error(self, url: str, engine: sa.Engine) -> None:
        """A table a configured ``past_state`` reads that does not exist is an error (the
        preset's own history table only warns, above)."""
        create(url, test_zammad.metadata)
        past = {"queue": "SELECT MAX(a.id) FROM audit a WHERE a.ticket = t.id AND a.at < :as_of"}
        assert validate_mapping(engine, zammad(past_state=past), "helpdesk") == [
            (
                f"{ZAMMAD} -> past_state -> queue",
                "preset zammad: past_state.queue: table audit does not exist",
            )
        ]

    def test_presets_past_state_passes_on_its_tables(self, url: str, engine: sa.Engine) -> None:
        """The zammad preset's own ``past_state`` runs on Zammad's tables: no problem and
        no warning for it."""
        create(url, test_zammad.metadata)
        checked = check_mapping(engine, zammad(), "helpdesk")
        assert checked.problems == []
        assert not [p for p, _ in checked.warnings if "past_state" in p]

    def test_wrong_column_in_optional_field_is_an_error(self, url: str, engine: sa.Engine) -> None:
        """An optional field whose tables are there but whose SQL is wrong is a mistake to
        fix (exit 2), not a missing grant."""
        create(url, test_zammad.metadata)
        mapping = zammad(reopened_at="SELECT MAX(h.created) FROM histories h WHERE h.o_id = t.id")
        [(path, message)] = validate_mapping(engine, mapping, "helpdesk")
        assert path == f"{ZAMMAD} -> reopened_at"
        assert "created" in message

    def test_bad_join_condition_is_named(self, url: str, engine: sa.Engine) -> None:
        """A join condition naming a missing column is reported under joins."""
        create(url, test_zammad.metadata)
        joins = [dict(j) for j in PRESETS["zammad"]["joins"]]
        joins[0]["on"] = "g.id = t.grp_id"
        [(path, message)] = validate_mapping(engine, zammad(joins=joins), "helpdesk")
        assert path == f"{ZAMMAD} -> joins"
        assert "grp_id" in message

    def test_empty_database_names_every_table(self, url: str, engine: sa.Engine) -> None:
        """Against an empty database every core table of the preset is reported once (the
        priority lookup only feeds the optional priority label)."""
        problems = validate_mapping(engine, zammad(), "helpdesk")
        assert [m for _, m in problems] == [
            f"preset zammad: table {t} does not exist"
            for t in ("tickets", "groups", "ticket_states", "ticket_state_types")
        ]

    def test_unreachable_database_is_not_a_mapping_problem(self) -> None:
        """A refused connection raises SourceUnavailable (retry), with the source name, no URL."""
        engine = open_engine("postgresql+psycopg://u:s3cr3t@127.0.0.1:1/x", timedelta(seconds=2))
        with pytest.raises(SourceUnavailable) as caught:
            validate_mapping(engine, zammad(), "helpdesk")
        engine.dispose()
        assert str(caught.value).startswith("helpdesk: ")
        assert "s3cr3t" not in str(caught.value)


@pytest.mark.postgres
class TestValidateRequestTracker:
    @pytest.fixture(autouse=True)
    def registered(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setitem(PRESETS, "rt", rt.PRESET)

    def test_rt_preset_matches_rts_tables(self, pg_database: str) -> None:
        """The rt preset on RT's tables (lower-cased by PostgreSQL) yields no problem."""
        create(pg_database, test_rt.metadata)
        engine = open_engine(pg_database, timedelta(seconds=10))
        try:
            assert validate_mapping(engine, SqlMapping.model_validate({"preset": "rt"}), "rt") == []
            broken = SqlMapping.model_validate(
                {
                    "preset": "rt",
                    "first_response_at": rt.FIRST_RESPONSE_AT.replace(
                        "tr.creator <>", "tr.creatr <>"
                    ),
                }
            )
            [(path, message)] = validate_mapping(engine, broken, "rt")
        finally:
            engine.dispose()
        assert path == f"{ZAMMAD} -> first_response_at"
        assert message.startswith("preset rt: first_response_at: ")
        assert "creatr" in message
