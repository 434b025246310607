"""Logging set-up: one line per event, ``key=value`` context appended."""

from __future__ import annotations

import logging
import sys

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class KeyValueFormatter(logging.Formatter):
    """Appends the ``extra=`` fields of a record as ``key=value``."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extras = {k: v for k, v in vars(record).items() if k not in _STANDARD}
        if extras:
            text += " " + " ".join(f"{k}={v}" for k, v in sorted(extras.items()))
        return text


def configure(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # urllib3 logs each request's URL at DEBUG, and a Slack webhook's URL is its token.
    for noisy in ("alembic", "uvicorn", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # The scheduler's own "skipped" warnings repeat what monitor.scheduler logs and counts.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
