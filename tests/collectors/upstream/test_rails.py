"""The Rails-declaration translator behind the Zammad test bed."""

from __future__ import annotations

from typing import Any

import pytest

from tests.collectors.upstream import dbs, ddl, rails
from tests.collectors.upstream.ddl import Column, Index


def rendered(name: str, kind: str, options: dict[str, Any]) -> list[str]:
    return [ddl.column_sql(c, "postgresql") for c in rails.columns(name, kind, options)]


class TestRails:
    def test_references_become_integer_ids(self) -> None:
        """``references group, null: false`` is a NOT NULL integer ``group_id`` (Migration[4.2])."""
        assert rendered("group", "references", {"null": False}) == ["group_id integer NOT NULL"]

    def test_timestamps_add_two_millisecond_columns(self) -> None:
        """``timestamps limit: 3`` adds created_at and updated_at as timestamp(3)."""
        assert rendered("timestamps", "timestamps", {"limit": 3, "null": False}) == [
            "created_at timestamp(3) without time zone NOT NULL",
            "updated_at timestamp(3) without time zone NOT NULL",
        ]

    def test_string_limit_default_and_null(self) -> None:
        """A limited string keeps its length, quoted default and nullability."""
        assert rendered(
            "follow_up_possible", "string", {"limit": 100, "null": False, "default": "yes"}
        ) == ["follow_up_possible character varying(100) DEFAULT 'yes' NOT NULL"]

    def test_decimal_and_boolean(self) -> None:
        """Decimals keep precision and scale; booleans their default."""
        assert rendered("time_unit", "decimal", {"precision": 6, "scale": 2}) == [
            "time_unit numeric(6,2)"
        ]
        assert rendered("active", "boolean", {"default": True, "null": False}) == [
            "active boolean DEFAULT true NOT NULL"
        ]

    def test_unknown_type_is_refused(self) -> None:
        """A declaration type the translator does not know is an error, not a guess."""
        with pytest.raises(ValueError, match="jsonb"):
            rendered("x", "jsonb", {})

    def test_transcription_covers_the_tables_the_preset_reads(self) -> None:
        """Every table the preset reads is created; tickets has id, 38 columns, timestamps."""
        found = {t.name: t for t in rails.tables(dbs.HERE / "zammad" / "schema.yaml")}
        assert {
            "tickets",
            "groups",
            "ticket_states",
            "ticket_state_types",
            "ticket_priorities",
            "histories",
            "history_objects",
            "history_attributes",
        } <= set(found)
        tickets = found["tickets"]
        assert len(tickets.columns) == 41 and tickets.primary_key == ("id",)
        assert Column("owner_id", "integer", null=False) in tickets.columns

    def test_tables_render_as_postgresql(self) -> None:
        """The rendered DDL creates the tables with their implicit serial primary key."""
        statements = rails.create_tables(dbs.HERE / "zammad" / "schema.yaml")
        creates = [s for s in statements if s.startswith("CREATE TABLE")]
        assert creates[0].startswith("CREATE TABLE ticket_state_types (\n  id serial NOT NULL,")
        assert len(creates) == 9 and all("PRIMARY KEY (id)" in s for s in creates)
        assert "CREATE INDEX index_histories_on_o_id ON histories (o_id)" in statements

    def test_add_index_names_follow_rails(self) -> None:
        """An index is named index_<table>_on_<columns joined by _and_> unless given a
        name; a unique one stays unique; a MySQL key length is dropped."""
        assert rails.index("tickets", ["group_id", "state_id"]) == Index(
            "index_tickets_on_group_id_and_state_id", ("group_id", "state_id")
        )
        assert rails.index("groups", ["name"], {"unique": True}).unique
        assert rails.index("t", ["a"], {"name": "short"}).name == "short"
        assert rails.index("histories", ["value_to"], {"length": 255}).columns == ("value_to",)
