"""The statements that read a mirror's rows back, seen through SQLAlchemy's
``before_cursor_execute`` event on the store's engine.

A write of :class:`~collectors.hosted.mirror.Mirror` looks up the rows of the tickets it
changes (``ticket_id IN (...)``); any other ``SELECT`` on ``mirror_tickets`` reads a
source's rows whatever changed (``created_times``, ``open_counts``, ``ages``, the index's
first load): :meth:`MirrorReads.whole` lists those.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import sqlalchemy as sa


class MirrorReads:
    """Records the ``SELECT`` statements on ``mirror_tickets`` ``engine`` runs while in
    the ``with`` block."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.seen: list[str] = []

    def __enter__(self) -> MirrorReads:
        sa.event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._record)

    def _record(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        text = " ".join(statement.split())
        if text.upper().startswith("SELECT") and "FROM mirror_tickets" in text:
            self.seen.append(text)

    def whole(self) -> list[str]:
        """The reads that do not name the tickets they want (all of a source's rows)."""
        return [s for s in self.seen if "mirror_tickets.ticket_id IN (" not in s]

    def lookups(self) -> list[str]:
        """A write's reads of the rows of the tickets it changes."""
        return [s for s in self.seen if "mirror_tickets.ticket_id IN (" in s]
