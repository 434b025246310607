"""Outbox payloads up to 4 GiB on MariaDB/MySQL (TEXT stops at 64 KiB).

A weekly report sent by e-mail carries its page and CSV files in the payload, far
beyond 64 KiB; on MariaDB the insert failed and the report was never sent. PostgreSQL
and SQLite have no such limit: nothing changes there.

Revision ID: 0010_outbox_longtext
Revises: 0009_hosted_mirror
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0010_outbox_longtext"
down_revision = "0009_hosted_mirror"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name in ("mysql", "mariadb"):
        op.alter_column(
            "outbox", "payload", type_=mysql.LONGTEXT(), existing_type=sa.Text, nullable=False
        )


def downgrade() -> None:
    if op.get_bind().dialect.name in ("mysql", "mariadb"):
        op.alter_column(
            "outbox", "payload", type_=sa.Text, existing_type=mysql.LONGTEXT(), nullable=False
        )
