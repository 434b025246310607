"""Reading the rows of ServiceNow's Aggregate API answers (``GET /api/now/stats/<table>``).

A row is ``{"stats": {"count": "N", "min": {...}, "sum": {...}}, "groupby_fields":
[{"field", "value", "display_value"}]}``; anything else is a :class:`MappingError`.
"""

from __future__ import annotations

from typing import Any

from monitor.errors import MappingError

Row = dict[str, Any]


def group_fields(source: str, row: Row, n: int | None) -> list[str]:
    try:
        values = [str(f.get("display_value", f["value"])) for f in row["groupby_fields"]]
    except (KeyError, TypeError, AttributeError):
        raise MappingError(f"{source}: stats: no groupby_fields in a row") from None
    if len(values) != (n or len(values)) or not values:
        raise MappingError(f"{source}: stats: {len(values)} group-by fields, {n} expected")
    return values


def row_sum(source: str, row: Row, field: str) -> int:
    try:
        return int(float(row["stats"]["sum"][field] or 0))
    except (KeyError, TypeError, ValueError):
        raise MappingError(f"{source}: stats: no sum of {field} in a row") from None


def row_count(source: str, row: Row) -> int:
    try:
        return int(row["stats"]["count"])
    except (KeyError, TypeError, ValueError):
        raise MappingError(f"{source}: stats: no count in a row") from None
