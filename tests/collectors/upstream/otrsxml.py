"""Znuny's (OTRS's) database-independent schema rendered for MariaDB or PostgreSQL.

``znuny/schema.yaml`` keeps ``scripts/database/schema.xml``'s vocabulary; this module
turns it into :class:`ddl.Table` the way Znuny's drivers do (``Kernel/System/DB/mysql.pm``
and ``postgresql.pm``, ``TableCreate`` and ``_TypeTranslation``):

- ``DATE`` is ``DATETIME`` on MariaDB and ``timestamp(0)`` on PostgreSQL;
- ``VARCHAR`` with ``size`` is ``VARCHAR (size)`` (only sizes below 4000 are supported
  here: larger ones become text types, and the tables the preset reads have none);
- ``SMALLINT``, ``INTEGER``, ``BIGINT`` keep their names;
- ``required`` is NOT NULL, otherwise NULL; a default is kept;
- an auto-increment column is ``AUTO_INCREMENT`` on MariaDB and ``serial`` (``bigserial``
  for ``BIGINT``) on PostgreSQL;
- unique keys and indexes keep their names (PostgreSQL: a UNIQUE constraint, and a
  ``CREATE INDEX`` after the table).

No table options: Znuny's MariaDB tables take the database's defaults (utf8mb4).
"""

from __future__ import annotations

from typing import Any

from tests.collectors.upstream import ddl
from tests.collectors.upstream.ddl import Column, Dialect, Table

INTEGERS = ("SMALLINT", "INTEGER", "BIGINT")


def tables(schema: dict[str, Any], dialect: Dialect) -> list[Table]:
    """The transcribed tables as ``dialect`` gets them from Znuny."""
    out = []
    for name, spec in schema["tables"].items():
        columns = tuple(_column(entry, dialect) for entry in spec["columns"])
        out.append(Table(name, columns, tuple(spec.get("primary_key", ())), ddl.keys(spec)))
    return out


def _column(entry: list[Any], dialect: Dialect) -> Column:
    name, kind, *rest = entry
    options = ddl.options(rest[0] if rest else None)
    serial = bool(options.get("auto_increment"))
    if serial and dialect == "postgresql":
        return Column(name, "bigserial" if kind == "BIGINT" else "serial", null=False)
    return Column(
        name,
        _type(kind, options.get("size"), dialect),
        null=not options.get("required", False),
        default=options.get("default"),
        auto_increment=serial,
    )


def _type(kind: str, size: int | None, dialect: Dialect) -> str:
    if kind == "DATE":
        return "DATETIME" if dialect == "mysql" else "timestamp(0)"
    if kind == "VARCHAR" and size is not None and size < 4000:
        return f"VARCHAR ({size})"
    if kind in INTEGERS:
        return kind
    raise ValueError(f"unsupported schema.xml type {kind!r} (size {size})")


def statements(schema: dict[str, Any], dialect: Dialect) -> list[str]:
    """The DDL of the transcribed tables on ``dialect``."""
    return ddl.create_statements(tables(schema, dialect), dialect)
