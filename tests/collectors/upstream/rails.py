"""Zammad's transcribed Rails ``create_table`` declarations as PostgreSQL tables.

Follows ActiveRecord's PostgreSQL adapter for a ``Migration[4.2]``: an implicit
``id serial`` primary key; ``references x`` is an ``integer`` column ``x_id``;
``string`` is ``character varying`` (with ``limit``); ``timestamp``/``datetime`` with
``limit: 3`` is ``timestamp(3) without time zone``; ``timestamps`` adds ``created_at`` and
``updated_at``; ``decimal`` takes ``precision``/``scale``; ``integer`` with ``limit: 8`` is
``bigint``. Only the subset that ``zammad/schema.yaml`` uses is supported. The tables are
rendered by :mod:`ddl`, like every other product's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.collectors.upstream import ddl
from tests.collectors.upstream.ddl import Column, Index, Table

SCALARS = {"integer": "integer", "boolean": "boolean", "text": "text", "date": "date"}


def columns(name: str, kind: str, options: dict[str, Any]) -> list[Column]:
    """The columns one declaration adds."""
    if kind == "timestamps":
        return [
            *columns("created_at", "timestamp", options),
            *columns("updated_at", "timestamp", options),
        ]
    if kind == "references":
        return columns(f"{name}_id", "integer", {k: v for k, v in options.items() if k == "null"})
    return [
        Column(
            name,
            _type(kind, options),
            null=options.get("null") is not False,
            default=options.get("default"),
        )
    ]


def _type(kind: str, options: dict[str, Any]) -> str:
    if kind == "string":
        return (
            f"character varying({options['limit']})" if "limit" in options else "character varying"
        )
    if kind in ("timestamp", "datetime"):
        precision = f"({options['limit']})" if "limit" in options else ""
        return f"timestamp{precision} without time zone"
    if kind == "decimal":
        return f"numeric({options['precision']},{options['scale']})"
    if kind == "integer" and options.get("limit") == 8:
        return "bigint"
    if kind in SCALARS:
        return SCALARS[kind]
    raise ValueError(f"unsupported Rails column type {kind!r}")


def tables(path: Path) -> list[Table]:
    """One table per transcribed ``create_table``, columns in upstream order, with the
    indexes its ``add_index`` declarations create."""
    schema = ddl.load(path)
    out = []
    for table, declarations in schema["tables"].items():
        found = [Column("id", "serial", null=False)]
        for name, kind, raw in declarations:
            found += columns(name, kind, ddl.options(raw))
        keys = tuple(index(table, *entry) for entry in schema.get("indexes", {}).get(table, ()))
        out.append(Table(table, tuple(found), primary_key=("id",), indexes=keys))
    return out


def index(table: str, names: list[str], options: dict[str, Any] | None = None) -> Index:
    """An ``add_index``: Rails' default name unless one is given; ``length`` (a MySQL key
    prefix) does not apply to PostgreSQL."""
    options = options or {}
    name = options.get("name") or f"index_{table}_on_{'_and_'.join(names)}"
    return Index(name, tuple(names), unique=bool(options.get("unique")))


def create_tables(path: Path) -> list[str]:
    """The PostgreSQL DDL of the transcribed tables."""
    return ddl.create_statements(tables(path), "postgresql")


def seeds(path: Path) -> dict[str, list[dict[str, Any]]]:
    """The transcribed seed rows per table."""
    data: dict[str, list[dict[str, Any]]] = ddl.load(path)["seeds"]
    return data
