"""Derive the compact ServiceNow demo/test fixture from the real UCI incident event log.

The source is the UCI "Incident management process enriched event log" (dataset 498),
one row per audit event (141,712 events, 24,918 incidents); see
``tests/data/PROVENANCE.md`` and ``monitor/demo/data/PROVENANCE.md``.
The output has one row per incident and nothing that is not in the source:

* ``ticket_id``   -- ``number``.
* ``queue``       -- the last non-missing ``assignment_group`` of the incident, events
  ordered by ``sys_mod_count`` then ``sys_updated_at``; ``(none)`` if it never had one.
* ``priority``    -- the ``priority`` of the last event.
* ``opened_at``   -- ``opened_at``.
* ``resolved_at`` -- ``resolved_at`` of the last event, else ``closed_at``; empty if
  neither exists; clamped to ``opened_at`` if earlier.
* ``assignee``    -- the last non-missing ``assigned_to``, in the same order as
  ``queue``; empty if the incident never had one.

Timestamps are naive local times (``%d/%m/%Y %H:%M`` in the source), written as
``YYYY-MM-DD HH:MM:00``.  Rows are sorted by ``opened_at``, ``ticket_id``; the gzip
header has mtime 0 and no file name, so the output is byte-for-byte reproducible.

Usage: ``python scripts/derive_servicenow_fixture.py [--source PATH] [--out PATH]``
"""

from __future__ import annotations

import argparse
import gzip
from pathlib import Path

import pandas as pd

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = REPO_ROOT / "tests" / "data" / "servicenow_incident_event_log.csv.gz"
DEFAULT_OUT = REPO_ROOT / "monitor" / "demo" / "data" / "servicenow_incidents.csv.gz"

MISSING = "?"
NO_QUEUE = "(none)"
SOURCE_TIME_FORMAT = "%d/%m/%Y %H:%M"
OUT_TIME_FORMAT = "%Y-%m-%d %H:%M:00"
COLUMNS = ["ticket_id", "queue", "priority", "opened_at", "resolved_at", "assignee"]
SOURCE_COLUMNS = [
    "number",
    "sys_mod_count",
    "sys_updated_at",
    "assignment_group",
    "assigned_to",
    "priority",
    "opened_at",
    "resolved_at",
    "closed_at",
]


def _parse_time(values: pd.Series) -> pd.Series:
    """Parse source timestamps; ``?`` becomes NaT."""
    return pd.to_datetime(values.where(values != MISSING), format=SOURCE_TIME_FORMAT)


def derive(events: pd.DataFrame) -> pd.DataFrame:
    """Collapse the event log (all columns as strings) to one row per incident."""
    ev = events.assign(
        sys_mod_count=events["sys_mod_count"].astype(int),
        sys_updated_at=_parse_time(events["sys_updated_at"]),
    ).sort_values(["number", "sys_mod_count", "sys_updated_at"], kind="stable")

    last = ev.drop_duplicates("number", keep="last").set_index("number")
    groups = ev.loc[ev["assignment_group"] != MISSING, ["number", "assignment_group"]]
    last_group = groups.groupby("number", sort=False)["assignment_group"].last()
    agents = ev.loc[ev["assigned_to"] != MISSING, ["number", "assigned_to"]]
    last_agent = agents.groupby("number", sort=False)["assigned_to"].last()

    opened = _parse_time(last["opened_at"])
    resolved = _parse_time(last["resolved_at"]).fillna(_parse_time(last["closed_at"]))
    resolved = resolved.where(resolved.isna() | (resolved >= opened), opened)

    out = pd.DataFrame(
        {
            "ticket_id": last.index,
            "queue": last_group.reindex(last.index).fillna(NO_QUEUE).to_numpy(),
            "priority": last["priority"].to_numpy(),
            "opened_at": opened.to_numpy(),
            "resolved_at": resolved.to_numpy(),
            "assignee": last_agent.reindex(last.index).fillna("").to_numpy(),
        }
    ).sort_values(["opened_at", "ticket_id"], ignore_index=True)
    for col in ("opened_at", "resolved_at"):
        out[col] = out[col].dt.strftime(OUT_TIME_FORMAT).fillna("")
    return out[COLUMNS]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    events = pd.read_csv(args.source, dtype=str, keep_default_na=False, usecols=SOURCE_COLUMNS)
    fixture = derive(events)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # gzip.compress() writes mtime 0 and no file name: same bytes wherever it is written.
    csv_bytes = fixture.to_csv(index=False, lineterminator="\n").encode("utf-8")
    args.out.write_bytes(gzip.compress(csv_bytes, compresslevel=9, mtime=0))
    print(f"{len(events)} events -> {len(fixture)} incidents -> {args.out}")


if __name__ == "__main__":
    main()
