"""The DDL generator behind the upstream test bed."""

from __future__ import annotations

from tests.collectors.upstream import ddl
from tests.collectors.upstream.ddl import Column, Index, Table

TICKETS = Table(
    name="tickets",
    columns=(
        Column("id", "int unsigned", null=False, auto_increment=True),
        Column("status", "int", null=False, default=1),
        Column("date", "timestamp"),
        Column("name", "varchar(255)", default="[none]"),
    ),
    primary_key=("id",),
    indexes=(
        Index("unicity", ("status", "name"), unique=True),
        Index("name", ("name(200)",)),
    ),
    options="ENGINE=InnoDB",
)


class TestMariaDb:
    def test_columns_keep_type_nullability_default_and_increment(self) -> None:
        """Each column renders its type, NULL or NOT NULL, its default and AUTO_INCREMENT."""
        (sql,) = ddl.create_statements([TICKETS], "mysql")
        assert "`id` int unsigned NOT NULL AUTO_INCREMENT," in sql
        assert "`status` int NOT NULL DEFAULT 1," in sql
        assert "`name` varchar(255) NULL DEFAULT '[none]'," in sql

    def test_nullable_timestamp_says_null(self) -> None:
        """A nullable TIMESTAMP is written NULL so MariaDB never gives it an implicit default."""
        (sql,) = ddl.create_statements([TICKETS], "mysql")
        assert "`date` timestamp NULL," in sql

    def test_keys_and_options(self) -> None:
        """Unique keys, prefix keys and table options are rendered as MariaDB writes them."""
        (sql,) = ddl.create_statements([TICKETS], "mysql")
        assert "PRIMARY KEY (`id`)" in sql
        assert "UNIQUE KEY `unicity` (`status`, `name`)" in sql
        assert "KEY `name` (`name`(200))" in sql
        assert sql.endswith(") ENGINE=InnoDB")


class TestPostgresql:
    def test_sequence_first_then_table_then_indexes(self) -> None:
        """A sequence is created before its table; expression and GIN indexes after it."""
        table = Table(
            name="Queues",
            columns=(
                Column("id", "INTEGER", default_sql="nextval('queues_id_seq')"),
                Column("Name", "varchar(200)", null=False),
                Column("Description", "text"),
            ),
            primary_key=("id",),
            indexes=(
                Index("Queues1", ("LOWER(Name)",), unique=True),
                Index("Queues2", ("to_tsvector('simple', Description)",), using="GIN"),
            ),
            sequence="queues_id_seq",
        )
        sequence, create, unique, gin = ddl.create_statements([table], "postgresql")
        assert sequence == "CREATE SEQUENCE queues_id_seq"
        assert "id INTEGER DEFAULT nextval('queues_id_seq')," in create
        assert "Name varchar(200) NOT NULL," in create
        assert unique == "CREATE UNIQUE INDEX Queues1 ON Queues (LOWER(Name))"
        assert gin == (
            "CREATE INDEX Queues2 ON Queues USING GIN (to_tsvector('simple', Description))"
        )

    def test_plain_unique_key_is_a_constraint(self) -> None:
        """A unique key over plain columns is a table constraint; other keys are indexes."""
        table = Table(
            name="ticket",
            columns=(Column("tn", "VARCHAR (50)", null=False), Column("title", "VARCHAR (255)")),
            indexes=(Index("ticket_tn", ("tn",), unique=True), Index("ticket_title", ("title",))),
        )
        create, index = ddl.create_statements([table], "postgresql")
        assert "CONSTRAINT ticket_tn UNIQUE (tn)" in create
        assert "title VARCHAR (255)," in create
        assert index == "CREATE INDEX ticket_title ON ticket (title)"


class TestTranscription:
    def test_yaml_rows_become_columns(self) -> None:
        """A transcribed row ``[name, type, {options}]`` becomes a Column; a bare ``null``
        key is the nullability option."""
        (table,) = ddl.tables(
            {
                "table_options": "ENGINE=InnoDB",
                "tables": {
                    "t": {
                        "columns": [["id", "int", {None: False}], ["note", "text"]],
                        "primary_key": ["id"],
                        "unique": {"u": ["note(10)"]},
                        "indexes": {"g": {"columns": ["note"], "using": "GIN"}},
                    }
                },
            }
        )
        assert table.columns == (Column("id", "int", null=False), Column("note", "text"))
        assert table.indexes == (
            Index("u", ("note(10)",), unique=True),
            Index("g", ("note",), using="GIN"),
        )
        assert table.options == "ENGINE=InnoDB"
