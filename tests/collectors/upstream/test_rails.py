"""The Rails-declaration translator behind the Zammad test bed."""

from __future__ import annotations

import pytest

from tests.collectors.upstream import dbs, rails


class TestRails:
    def test_references_become_integer_ids(self) -> None:
        """``references group, null: false`` is a NOT NULL integer ``group_id`` (Migration[4.2])."""
        assert rails.column_ddl("group", "references", {"null": False}) == [
            "group_id integer NOT NULL"
        ]

    def test_timestamps_add_two_millisecond_columns(self) -> None:
        """``timestamps limit: 3`` adds created_at and updated_at as timestamp(3)."""
        assert rails.column_ddl("timestamps", "timestamps", {"limit": 3, "null": False}) == [
            "created_at timestamp(3) without time zone NOT NULL",
            "updated_at timestamp(3) without time zone NOT NULL",
        ]

    def test_string_limit_default_and_null(self) -> None:
        """A limited string keeps its length, quoted default and nullability."""
        assert rails.column_ddl(
            "follow_up_possible", "string", {"limit": 100, "null": False, "default": "yes"}
        ) == ["follow_up_possible character varying(100) DEFAULT 'yes' NOT NULL"]

    def test_decimal_and_boolean(self) -> None:
        """Decimals keep precision and scale; booleans their default."""
        assert rails.column_ddl("time_unit", "decimal", {"precision": 6, "scale": 2}) == [
            "time_unit numeric(6,2)"
        ]
        assert rails.column_ddl("active", "boolean", {"default": True, "null": False}) == [
            "active boolean DEFAULT true NOT NULL"
        ]

    def test_unknown_type_is_refused(self) -> None:
        """A declaration type the translator does not know is an error, not a guess."""
        with pytest.raises(ValueError, match="jsonb"):
            rails.column_ddl("x", "jsonb", {})

    def test_transcription_covers_the_tables_the_preset_reads(self) -> None:
        """Every table the preset reads is created; tickets has id, 38 columns, timestamps."""
        ddl = rails.create_tables(dbs.HERE / "zammad" / "schema.yaml")
        names = [d.split()[2] for d in ddl]
        assert {
            "tickets",
            "groups",
            "ticket_states",
            "ticket_state_types",
            "ticket_priorities",
            "histories",
            "history_objects",
            "history_attributes",
        } <= set(names)
        tickets = ddl[names.index("tickets")]
        columns = [line for line in tickets.splitlines() if line.startswith("  ")]
        assert len(columns) == 41
        assert "  owner_id integer NOT NULL," in columns
