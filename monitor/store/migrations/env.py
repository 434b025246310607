"""Alembic environment: runs on the connection the daemon hands over (see monitor.store.engine)."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - the CLI always passes a connection
    raise RuntimeError("run migrations through `backlog-monitor migrate`")

context.configure(connection=connection, target_metadata=None, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
