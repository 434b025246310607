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
