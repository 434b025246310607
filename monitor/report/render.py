"""The report as files: a self-contained HTML page, CSV files and a short Markdown summary.

The page has no external resource (inline CSS, inline SVG chart): it can be mailed or
opened from disk. Numbers are formatted once here for all three outputs.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from collectors.base import AGE_BUCKETS
from monitor.report.build import QueueReport, Report
from monitor.report.chart import HEIGHT, LEFT, TOP, WIDTH, geometry

QUEUE_COLUMNS = (
    "queue",
    "open_now",
    "created",
    "resolved",
    "net_change",
    "resolution_median_h",
    "resolution_p90_h",
    "first_response_median_h",
    "first_response_p90_h",
    "first_assignment_median_h",
    "first_assignment_p90_h",
    "sla_attainment",
    *(f"older_than_{name}" for name, _ in AGE_BUCKETS),
    "reassignments_per_resolved",
    "reopen_rate",
    "misroute_rate",
    "forecast_open",
    "forecast_hours",
)


def queue_row(q: QueueReport) -> dict[str, Any]:
    """One CSV row (None where the figure is unknown: an empty cell, never 0)."""
    r = q.routing
    return {
        "queue": q.queue,
        "open_now": q.open_now,
        "created": q.created,
        "resolved": q.resolved,
        "net_change": q.net,
        "resolution_median_h": _hours(q.resolution_median_s),
        "resolution_p90_h": _hours(q.resolution_p90_s),
        "first_response_median_h": _hours(q.first_response_median_s),
        "first_response_p90_h": _hours(q.first_response_p90_s),
        "first_assignment_median_h": _hours(q.first_assignment_median_s),
        "first_assignment_p90_h": _hours(q.first_assignment_p90_s),
        "sla_attainment": _ratio(q.sla_attainment),
        **{
            f"older_than_{name}": None if q.older_than is None else q.older_than.get(name)
            for name, _ in AGE_BUCKETS
        },
        "reassignments_per_resolved": _ratio(r.reassignments_per_resolved if r else None),
        "reopen_rate": _ratio(r.reopen_rate if r else None),
        "misroute_rate": _ratio(r.misroute_rate if r else None),
        "forecast_open": None if q.forecast_open is None else round(q.forecast_open, 1),
        "forecast_hours": q.forecast_hours,
    }


def csv_files(report: Report) -> dict[str, str]:
    """``queues.csv``, ``aged.csv`` and ``categories.csv`` as text."""
    lines = [queue_row(q) for q in (*report.queues, report.overall)]
    aged = [
        {
            "ticket": t.id,
            "queue": t.queue,
            "status": t.status,
            "assignee": t.assignee,
            "age_days": round(t.age_s / 86400, 2),
        }
        for t in report.aged
    ]
    categories = [
        {"queue": q.queue, "kind": kind, "category": name, "tickets": n}
        for q in report.queues
        for kind, counts in (("open", q.categories_open), ("created", q.categories_created))
        for name, n in (counts or {}).items()
    ]
    return {
        "queues.csv": _csv(QUEUE_COLUMNS, lines),
        "aged.csv": _csv(("ticket", "queue", "status", "assignee", "age_days"), aged),
        "categories.csv": _csv(("queue", "kind", "category", "tickets"), categories),
    }


def markdown(report: Report, top: int = 5) -> str:
    """A short summary: the overall line, the queues that grew most, the oldest tickets."""
    o = queue_row(report.overall)
    lines = [
        f"# Backlog report: {report.source}, {report.start:%Y-%m-%d %H:%M} to"
        f" {report.end:%Y-%m-%d %H:%M} UTC",
        "",
        f"- Open now: {o['open_now']}; created {_text(o['created'])}, resolved"
        f" {_text(o['resolved'])}, net change {_signed(o['net_change'])}",
        f"- Resolution time: median {_text(o['resolution_median_h'])} h, p90"
        f" {_text(o['resolution_p90_h'])} h; SLA attainment {_pct(o['sla_attainment'])}",
        *(
            [
                f"- First response: median {_text(o['first_response_median_h'])} h, p90"
                f" {_text(o['first_response_p90_h'])} h"
            ]
            if report.overall.first_responded is not None
            else []
        ),
        *(
            [
                f"- First assignment: median {_text(o['first_assignment_median_h'])} h, p90"
                f" {_text(o['first_assignment_p90_h'])} h"
            ]
            if report.overall.first_assigned is not None
            else []
        ),
        f"- Older than 7/14/30 days: {_text(o['older_than_7d'])} / {_text(o['older_than_14d'])}"
        f" / {_text(o['older_than_30d'])}",
        f"- Reopen rate {_pct(o['reopen_rate'])}, misroute rate {_pct(o['misroute_rate'])},"
        f" reassignments per resolved ticket {_text(o['reassignments_per_resolved'])}",
    ]
    if o["forecast_open"] is not None:
        lines.append(f"- Forecast: {o['forecast_open']} open in {o['forecast_hours']} h")
    grew = sorted(
        (q for q in report.queues if q.net is not None and q.net > 0),
        key=lambda q: (-(q.net or 0), q.queue),
    )[:top]
    if grew:
        lines += ["", "## Queues that grew most", ""]
        lines += [f"- {q.queue}: {_signed(q.net)} ({q.open_now} open)" for q in grew]
    if report.aged:
        lines += ["", "## Oldest open tickets", ""]
        lines += [
            f"- {t.id} ({t.queue}, {t.status}, {t.assignee or 'unassigned'}):"
            f" {t.age_s / 86400:.1f} days"
            for t in report.aged[:top]
        ]
    return "\n".join(lines) + "\n"


def html(report: Report) -> str:
    """The self-contained page."""
    environment = Environment(
        loader=PackageLoader("monitor", "templates"), autoescape=select_autoescape()
    )
    rows = [queue_row(q) for q in report.queues]
    return environment.get_template("report.html").render(
        report=report,
        columns=QUEUE_COLUMNS,
        rows=rows,
        overall=queue_row(report.overall),
        aging=aging_bars(report.queues),
        chart=None if report.chart is None else geometry(report.chart),
        chart_size=(WIDTH, HEIGHT, LEFT, TOP),
        text=_text,
    )


def aging_bars(queues: Iterable[QueueReport], top: int = 12) -> list[dict[str, Any]]:
    """The SVG aging chart's bars: the queues with most tickets older than 7 days."""
    known = [q for q in queues if q.older_than]
    chosen = sorted(known, key=lambda q: (-(q.older_than or {}).get("7d", 0), q.queue))[:top]
    widest = max([(q.older_than or {}).get("7d", 0) for q in chosen] + [1])
    return [
        {
            "queue": q.queue,
            "y": 20 + i * 22,
            "bars": [
                (
                    name,
                    (q.older_than or {}).get(name, 0),
                    300 * (q.older_than or {}).get(name, 0) / widest,
                )
                for name, _ in AGE_BUCKETS
            ],
        }
        for i, q in enumerate(chosen)
    ]


def write_report(report: Report, out: Path) -> list[Path]:
    """Write every file into ``out`` (created if needed); returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    files = {**csv_files(report), "summary.md": markdown(report), "report.html": html(report)}
    paths = []
    for name, text in files.items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def _csv(columns: tuple[str, ...], rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 2)


def _ratio(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _text(value: Any) -> str:
    return "n/a" if value is None else str(value)


def _signed(value: int | None) -> str:
    return "n/a" if value is None else f"{value:+d}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"
