"""Small row helpers shared by the store modules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa


def update_or_insert(
    conn: sa.Connection,
    table: sa.Table,
    key: Mapping[str, Any],
    values: Mapping[str, Any],
    insert_defaults: Mapping[str, Any] | None = None,
) -> None:
    """Update the row ``key`` names, or insert it (with ``insert_defaults``) when absent.

    Portable across SQLite, PostgreSQL and MariaDB (no dialect upsert), inside the
    caller's transaction.
    """
    where = [table.c[name] == value for name, value in key.items()]
    if conn.execute(table.update().where(*where).values(**values)).rowcount:
        return
    conn.execute(table.insert().values(**{**(insert_defaults or {}), **key, **values}))


def dicts(result: sa.Result[Any]) -> list[dict[str, Any]]:
    """A result's rows as dicts by column name: what ``[dict(r) for r in
    result.mappings()]`` gives, at a third of the cost (the column names are looked
    up once, not once per row: the hot reads of the evaluate and upkeep jobs)."""
    keys = list(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result]
