"""Trim the UCI ServiceNow incident event log to the columns the tests and benchmarks read.

Input: the byte-identical copy of ``incident_event_log.csv`` (gzip), see
``tests/data/PROVENANCE.md``. Output: the same 141,712 rows, in the same order, with the
values unchanged (read and written as text, ``?`` kept as the missing marker), and only
the columns listed in :data:`KEEP`. The gzip header has mtime 0 and no file name, so the
output is byte-for-byte reproducible.

Usage: ``python scripts/trim_servicenow_log.py SOURCE.csv.gz OUT.csv.gz``
"""

from __future__ import annotations

import argparse
import gzip

import pandas as pd

KEEP = [
    "number",
    "incident_state",
    "active",
    "reassignment_count",
    "reopen_count",
    "sys_mod_count",
    "made_sla",
    "opened_at",
    "sys_updated_at",
    "contact_type",
    "location",
    "category",
    "subcategory",
    "impact",
    "urgency",
    "priority",
    "assignment_group",
    "assigned_to",
    "resolved_by",
    "resolved_at",
    "closed_at",
]
"""Identity, state, timestamps, queue, agent, priority and the counters issue work reads;
the caller, opener, CI, problem, vendor and knowledge columns are dropped."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source")
    parser.add_argument("out")
    args = parser.parse_args()
    events = pd.read_csv(args.source, dtype=str, keep_default_na=False)
    text = events[KEEP].to_csv(index=False, lineterminator="\n")
    with (
        open(args.out, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz,
    ):
        gz.write(text.encode("utf-8"))


if __name__ == "__main__":
    main()
