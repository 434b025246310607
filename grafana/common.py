"""What every dashboard shares: the data-source variable, selectors, panel shapes, output.

The dashboards are code built with Grafana Labs' ``grafana-foundation-sdk`` (typed builders
generated from Grafana's own schemas); ``python -m grafana`` writes the JSON that Grafana
provisions, and ``tests/test_catalogue.py`` checks that the committed JSON is what the
code builds. See grafana/README.md for why.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from grafana_foundation_sdk.builders import stat, table, timeseries
from grafana_foundation_sdk.builders.dashboard import (
    AnnotationQuery,
    Dashboard,
    DatasourceVariable,
    QueryVariable,
)
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    VariableOption,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
QUEUES = 'source=~"$source", queue=~"$queue"'
"""The selector of the queues picked in the source and queue variables."""
ONE_QUEUE = 'source="$source", queue="$queue"'
TAGS = ["backlog-monitor"]
PanelBuilder = timeseries.Panel | stat.Panel | table.Panel
P = TypeVar("P", timeseries.Panel, stat.Panel, table.Panel)


@dataclass(frozen=True)
class Query:
    """One PromQL expression of a panel and its legend."""

    expr: str
    legend: str = ""
    instant: bool = False


def dashboard(
    uid: str, title: str, description: str, variables: Sequence[QueryVariable] = ()
) -> Dashboard:
    """A dashboard with the data-source variable, then ``variables``, refreshed every minute."""
    board = (
        Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .time("now-24h", "now")
        .refresh("1m")
        .with_variable(DatasourceVariable("datasource").label("Data source").type("prometheus"))
    )
    for v in variables:
        board = board.with_variable(v)
    return board


def variable(name: str, query: str, *, multi: bool) -> QueryVariable:
    """A label-values variable on the data source; ``multi`` adds "All"."""
    builder = (
        QueryVariable(name)
        .label(name.capitalize())
        .datasource(DATASOURCE)
        .query(query)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(multi)
        .include_all(multi)
    )
    if multi:
        builder = builder.current(VariableOption(text="All", value="$__all", selected=True))
    return builder


def source_and_queue(*, multi: bool) -> list[QueryVariable]:
    """The ``source`` and ``queue`` variables (the queues of the chosen sources)."""
    op = "=~" if multi else "="
    return [
        variable("source", "label_values(backlog_collector_up, source)", multi=multi),
        variable(
            "queue",
            f'label_values(backlog_open_tickets{{source{op}"$source"}}, queue)',
            multi=multi,
        ),
    ]


def targets(queries: Sequence[Query]) -> list[Dataquery]:
    """The panel's Prometheus targets, lettered A, B, C..."""
    out = []
    for i, q in enumerate(queries):
        target = Dataquery().expr(q.expr).legend_format(q.legend).ref_id(chr(ord("A") + i))
        target = target.datasource(DATASOURCE)
        out.append(target.instant().format(PromQueryFormat.TABLE) if q.instant else target)
    return out


def graph(
    title: str, description: str, queries: Sequence[Query], unit: str = "short", width: int = 12
) -> timeseries.Panel:
    """A time series panel."""
    return _filled(timeseries.Panel(), title, description, queries, width, 8).unit(unit)


def figure(
    title: str, description: str, queries: Sequence[Query], unit: str = "short", width: int = 6
) -> stat.Panel:
    """A stat panel: the latest value of each series."""
    return _filled(stat.Panel(), title, description, queries, width, 5).unit(unit)


def listing(title: str, description: str, query: Query, width: int = 24) -> table.Panel:
    """A table of the series an instant query returns (one row per label set)."""
    instant = Query(query.expr, query.legend, instant=True)
    return _filled(table.Panel(), title, description, [instant], width, 8)


def ageing(selector: str) -> timeseries.Panel:
    """Open tickets older than 7, 14 and 30 days in the queues ``selector`` picks."""
    return graph(
        "Ageing",
        "Open tickets older than 7, 14 and 30 days.",
        [Query(f"sum by (age) (backlog_open_tickets_older_than{{{selector}}})", "> {{age}}")],
        width=8,
    )


def _filled(
    panel: P, title: str, description: str, queries: Sequence[Query], width: int, height: int
) -> P:
    return (
        panel.title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(targets(queries))  # type: ignore[arg-type]
        .height(height)
        .span(width)
    )


def alert_annotation(
    name: str, state: str, color: str, selector: str = ONE_QUEUE
) -> AnnotationQuery:
    """The alerts in ``state`` of the queues ``selector`` picks, as annotations
    (``backlog_queue_alerts``)."""
    return (
        AnnotationQuery()
        .name(name)
        .datasource(DATASOURCE)
        .enable(True)
        .icon_color(color)
        .expr(f'backlog_queue_alerts{{{selector}, state="{state}"}}')
    )


def with_panels(board: Dashboard, panels: Sequence[PanelBuilder]) -> Dashboard:
    """Add ``panels`` in reading order, numbering them 1, 2, 3..."""
    for number, panel in enumerate(panels, start=1):
        board = board.with_panel(panel.id(number))
    return board


def render(board: Dashboard) -> str:
    """The dashboard as Grafana's JSON, keys sorted, ending with a newline."""
    model: dict[str, Any] = json.loads(JSONEncoder(sort_keys=True).encode(board.build()))
    for annotation in model.get("annotations", {}).get("list", []):
        # The SDK's annotation model has no title or tag fields for Prometheus
        # annotations; without them Grafana shows unlabelled markers.
        if "expr" in annotation:
            annotation.update(titleFormat="{{alertname}} {{state}}", tagKeys="severity")
    return json.dumps(model, indent=2, sort_keys=True) + "\n"
