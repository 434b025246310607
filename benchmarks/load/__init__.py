"""Load and memory benchmarks: the daemon idle, and 1,000 queues for a simulated day."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parents[1] / "results"


def save(result: dict[str, Any], name: str) -> None:
    """Write ``result`` as ``benchmarks/results/<name>`` (what the suite reads)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / name).write_text(json.dumps(result, indent=2))
