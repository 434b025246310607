"""Where an unfinished mirror build resumes, for stores that page by position.

Help Scout's build resumes at a creation time (``mirror_state.cursor`` of the source's
build row). Udesk's lists each filter by page number, so where it stopped is a filter and
a page: the build row gains a JSON column for it (collectors/hosted/build.py).

Revision ID: 0011_resumable_builds
Revises: 0010_outbox_longtext
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_resumable_builds"
down_revision = "0010_outbox_longtext"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("mirror_state", sa.Column("build_position", sa.JSON, nullable=True))


def downgrade() -> None:
    op.drop_column("mirror_state", "build_position")
