"""Znuny's schema.xml vocabulary rendered per engine, as Znuny's drivers do."""

from __future__ import annotations

import pytest

from tests.collectors.upstream import otrsxml
from tests.collectors.upstream.ddl import Column

SCHEMA = {
    "tables": {
        "ticket": {
            "columns": [
                ["id", "BIGINT", {"required": True, "auto_increment": True}],
                ["tn", "VARCHAR", {"required": True, "size": 50}],
                ["archive_flag", "SMALLINT", {"required": True, "default": 0}],
                ["create_time", "DATE", {"required": True}],
                ["title", "VARCHAR", {"size": 255}],
            ],
            "primary_key": ["id"],
            "unique": {"ticket_tn": ["tn"]},
            "indexes": {"ticket_create_time": ["create_time"]},
        }
    }
}


class TestOtrsXml:
    def test_mariadb_types(self) -> None:
        """DATE is DATETIME, an auto-increment id AUTO_INCREMENT, nullability kept."""
        (table,) = otrsxml.tables(SCHEMA, "mysql")
        assert table.columns == (
            Column("id", "BIGINT", null=False, auto_increment=True),
            Column("tn", "VARCHAR (50)", null=False),
            Column("archive_flag", "SMALLINT", null=False, default=0),
            Column("create_time", "DATETIME", null=False),
            Column("title", "VARCHAR (255)"),
        )

    def test_postgresql_types(self) -> None:
        """DATE is timestamp(0), a BIGINT auto-increment id bigserial."""
        (table,) = otrsxml.tables(SCHEMA, "postgresql")
        assert table.columns[0] == Column("id", "bigserial", null=False)
        assert table.columns[3] == Column("create_time", "timestamp(0)", null=False)

    def test_keys_follow_the_engine(self) -> None:
        """A unique key is a constraint on PostgreSQL and an index is created after it."""
        create, index = otrsxml.statements(SCHEMA, "postgresql")
        assert "archive_flag SMALLINT DEFAULT 0 NOT NULL" in create
        assert "CONSTRAINT ticket_tn UNIQUE (tn)" in create
        assert index == "CREATE INDEX ticket_create_time ON ticket (create_time)"
        (mysql,) = otrsxml.statements(SCHEMA, "mysql")
        assert "UNIQUE KEY `ticket_tn` (`tn`)" in mysql

    def test_large_text_is_refused(self) -> None:
        """A VARCHAR of 4000 or more (a text type in Znuny) is an error, not a guess."""
        big = {"tables": {"t": {"columns": [["body", "VARCHAR", {"size": 1800000}]]}}}
        with pytest.raises(ValueError, match="VARCHAR"):
            otrsxml.tables(big, "mysql")
