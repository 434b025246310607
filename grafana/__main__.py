"""``python -m grafana [--check]``: write (or check) grafana/dashboards/*.json from the code."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from grafana_foundation_sdk.builders.dashboard import Dashboard

from grafana import agents, capacity, oncall, overview, queuedetail
from grafana.common import render

FOLDER = Path(__file__).parent / "dashboards"
BUILDERS: dict[str, Callable[[], Dashboard]] = {
    f"{overview.UID}.json": overview.build,
    f"{queuedetail.UID}.json": queuedetail.build,
    f"{oncall.UID}.json": oncall.build,
    f"{capacity.UID}.json": capacity.build,
    f"{agents.UID}.json": agents.build,
}


def rendered() -> dict[str, str]:
    """Every dashboard's JSON text, by file name."""
    return {name: render(build()) for name, build in BUILDERS.items()}


def main(argv: list[str]) -> int:
    """Write the files; with ``--check``, only report those that differ (exit 1)."""
    stale = []
    for name, text in rendered().items():
        path = FOLDER / name
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(name)
        if "--check" not in argv:
            path.write_text(text, encoding="utf-8")
    if "--check" in argv and stale:
        print(f"out of date: {', '.join(stale)}; run python -m grafana", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
