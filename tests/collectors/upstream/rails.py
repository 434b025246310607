"""Zammad's transcribed Rails ``create_table`` declarations as PostgreSQL DDL.

Follows ActiveRecord's PostgreSQL adapter for a ``Migration[4.2]``: an implicit
``id serial PRIMARY KEY``; ``references x`` is an ``integer`` column ``x_id``;
``string`` is ``character varying`` (with ``limit``); ``timestamp``/``datetime`` with
``limit: 3`` is ``timestamp(3) without time zone``; ``timestamps`` adds ``created_at`` and
``updated_at``; ``decimal`` takes ``precision``/``scale``; ``integer`` with ``limit: 8`` is
``bigint``. Only the subset that ``zammad/schema.yaml`` uses is supported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

SCALARS = {"integer": "integer", "boolean": "boolean", "text": "text", "date": "date"}


def column_ddl(name: str, kind: str, options: dict[str, Any]) -> list[str]:
    """The column definitions one declaration adds."""
    if kind == "timestamps":
        return [
            *column_ddl("created_at", "timestamp", options),
            *column_ddl("updated_at", "timestamp", options),
        ]
    if kind == "references":
        return column_ddl(
            f"{name}_id", "integer", {k: v for k, v in options.items() if k == "null"}
        )
    sql = f"{name} {_type(kind, options)}"
    if "default" in options:
        sql += f" DEFAULT {_literal(options['default'])}"
    if options.get("null") is False:
        sql += " NOT NULL"
    return [sql]


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


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def create_tables(path: Path) -> list[str]:
    """One ``CREATE TABLE`` per transcribed table, columns in upstream order."""
    schema = yaml.safe_load(path.read_text(encoding="utf-8"))
    out = []
    for table, declarations in schema["tables"].items():
        columns = ["id serial PRIMARY KEY"]
        for name, kind, options in declarations:
            # YAML reads the bare key ``null`` as None: give it its Rails name back
            columns += column_ddl(
                name, kind, {("null" if k is None else k): v for k, v in (options or {}).items()}
            )
        out.append(f"CREATE TABLE {table} (\n  " + ",\n  ".join(columns) + "\n)")
    return out


def seeds(path: Path) -> dict[str, list[dict[str, Any]]]:
    """The transcribed seed rows per table."""
    data: dict[str, list[dict[str, Any]]] = yaml.safe_load(path.read_text(encoding="utf-8"))[
        "seeds"
    ]
    return data
