"""DDL for MariaDB and PostgreSQL from a transcribed table description.

Each product's folder holds a ``schema.yaml`` written here from reading the product's own
schema (see its PROVENANCE.md): per table the preset reads, every column in upstream
order with its facts, then its keys. A column is ``[name, type, options]``:

- ``type``: the engine's type as the product declares it (``int unsigned``,
  ``timestamp``, ``varchar(255)``, ``enum('Web','Email')``, ``INTEGER``);
- ``null``: False for NOT NULL (default True: nullable, written ``NULL`` explicitly so a
  MariaDB ``timestamp`` never picks up an implicit default);
- ``default``: a literal (numbers as they are, text quoted), or ``default_sql``: an
  expression (``CURRENT_TIMESTAMP``, ``nextval('x_seq')``);
- ``auto_increment`` (MariaDB), ``collate``.

A table has ``primary_key`` (columns), ``unique`` and ``indexes`` (name: columns, or
``{columns, using}``); a column may be an expression (``LOWER(Name)``) or a MariaDB
prefix (``ldap_value(200)``). ``sequence`` names a PostgreSQL sequence created first.
Product modules that describe columns in their own vocabulary (Rails, Znuny's XML
schema) turn them into the same :class:`Table` and render them here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

Dialect = Literal["mysql", "postgresql"]
PLAIN = re.compile(r"^\w+$")
PREFIX = re.compile(r"^(\w+)\((\d+)\)$")


@dataclass(frozen=True)
class Column:
    """One column's facts, as the product declares them."""

    name: str
    type: str
    null: bool = True
    default: Any = None
    default_sql: str | None = None
    auto_increment: bool = False
    collate: str | None = None


@dataclass(frozen=True)
class Index:
    """A key: its name, its columns (or expressions), unique or not, access method."""

    name: str
    columns: tuple[str, ...]
    unique: bool = False
    using: str | None = None


@dataclass(frozen=True)
class Table:
    """A table: columns in upstream order, primary key, other keys, options."""

    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    indexes: tuple[Index, ...] = ()
    options: str = ""
    sequence: str | None = None
    column_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "column_names", tuple(c.name for c in self.columns))


def load(path: Path) -> dict[str, Any]:
    """A transcription file as data."""
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def statements(path: Path, dialect: Dialect) -> list[str]:
    """The DDL of a native-type transcription file for ``dialect``."""
    return create_statements(tables(load(path)), dialect)


def tables(schema: dict[str, Any]) -> list[Table]:
    """The tables of a native-type transcription (``tables:`` of a schema.yaml)."""
    options = str(schema.get("table_options", ""))
    return [_table(name, spec, options) for name, spec in schema["tables"].items()]


def _table(name: str, spec: dict[str, Any], options: str) -> Table:
    return Table(
        name=name,
        columns=tuple(_column(entry) for entry in spec["columns"]),
        primary_key=tuple(spec.get("primary_key", ())),
        indexes=keys(spec),
        options=str(spec.get("options", options)),
        sequence=spec.get("sequence"),
    )


def keys(spec: dict[str, Any]) -> tuple[Index, ...]:
    """A transcribed table's unique keys, then its other indexes."""
    return tuple(
        _index(key, value, unique)
        for unique, section in ((True, "unique"), (False, "indexes"))
        for key, value in (spec.get(section) or {}).items()
    )


def _column(entry: list[Any]) -> Column:
    name, kind, *rest = entry
    return Column(str(name), str(kind), **options(rest[0] if rest else None))


def options(raw: dict[Any, Any] | None) -> dict[str, Any]:
    """A transcribed row's options; YAML reads the bare key ``null`` as None, so it gets
    its name back."""
    return {("null" if k is None else str(k)): v for k, v in (raw or {}).items()}


def _index(name: str, value: Any, unique: bool) -> Index:
    if isinstance(value, dict):
        return Index(name, tuple(value["columns"]), unique, value.get("using"))
    return Index(name, tuple(value), unique)


def create_statements(items: list[Table], dialect: Dialect) -> list[str]:
    """Every statement that creates ``items`` on ``dialect``, in order."""
    out: list[str] = []
    for table in items:
        out += _mysql(table) if dialect == "mysql" else _postgresql(table)
    return out


def column_sql(column: Column, dialect: Dialect) -> str:
    """One column's definition on ``dialect``."""
    return _mysql_column(column) if dialect == "mysql" else _postgresql_column(column)


def _mysql(table: Table) -> list[str]:
    q = _mysql_quote
    lines = [_mysql_column(c) for c in table.columns]
    if table.primary_key:
        lines.append(f"PRIMARY KEY ({', '.join(q(c) for c in table.primary_key)})")
    for index in table.indexes:
        kind = "UNIQUE KEY" if index.unique else "KEY"
        lines.append(f"{kind} {q(index.name)} ({', '.join(q(c) for c in index.columns)})")
    body = ",\n  ".join(lines)
    return [f"CREATE TABLE {q(table.name)} (\n  {body}\n) {table.options}".rstrip()]


def _mysql_column(column: Column) -> str:
    sql = f"{_mysql_quote(column.name)} {column.type}"
    if column.collate:
        sql += f" COLLATE {column.collate}"
    sql += " NULL" if column.null else " NOT NULL"
    sql += _default(column)
    if column.auto_increment:
        sql += " AUTO_INCREMENT"
    return sql


def _mysql_quote(name: str) -> str:
    """Quote a name; keep a prefix length (``col(200)``) outside the quotes."""
    prefix = PREFIX.match(name)
    if prefix:
        return f"`{prefix.group(1)}`({prefix.group(2)})"
    return f"`{name}`"


def _postgresql(table: Table) -> list[str]:
    lines = [_postgresql_column(c) for c in table.columns]
    if table.primary_key:
        lines.append(f"PRIMARY KEY ({', '.join(table.primary_key)})")
    after: list[str] = []
    for index in table.indexes:
        columns = ", ".join(index.columns)
        if index.unique and all(PLAIN.match(c) for c in index.columns):
            lines.append(f"CONSTRAINT {index.name} UNIQUE ({columns})")
            continue
        using = f" USING {index.using}" if index.using else ""
        unique = "UNIQUE " if index.unique else ""
        after.append(f"CREATE {unique}INDEX {index.name} ON {table.name}{using} ({columns})")
    body = ",\n  ".join(lines)
    first = [f"CREATE SEQUENCE {table.sequence}"] if table.sequence else []
    return [*first, f"CREATE TABLE {table.name} (\n  {body}\n)", *after]


def _postgresql_column(column: Column) -> str:
    sql = f"{column.name} {column.type}{_default(column)}"
    return sql if column.null else sql + " NOT NULL"


def _default(column: Column) -> str:
    if column.default_sql is not None:
        return f" DEFAULT {column.default_sql}"
    if column.default is None:
        return ""
    return f" DEFAULT {literal(column.default)}"


def literal(value: Any) -> str:
    """An SQL literal for a transcribed default."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"
