"""PNG charts of a backtest, one per queue (``backlog-monitor backtest --charts DIR``).

Drawing only: ``forecasts.evaluation.charts`` computes what is shown. matplotlib is
an optional dependency (the ``plot`` extra), imported only here and only when charts
are asked for; figures are ``matplotlib.figure.Figure`` objects rendered by Agg,
without pyplot and its global state.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from forecasts.evaluation.charts import ChartData, chart_data
from forecasts.evaluation.events import BoolArray, runs_of
from forecasts.evaluation.replay import Replay
from forecasts.evaluation.report import HORIZON
from forecasts.types import HourlySeries
from monitor.errors import MissingExtra

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Importer = Callable[[str], ModuleType]

INSTALL_HINT = (
    "charts need matplotlib, which is not installed; "
    "install it with: pip install 'backlog-monitor[plot]'"
)


def figure_class(importer: Importer | None = None) -> type[Figure]:
    """matplotlib's ``Figure``, or :class:`MissingExtra` saying how to install it."""
    try:
        module = (importer or import_module)("matplotlib.figure")
    except ImportError as exc:
        raise MissingExtra(INSTALL_HINT) from exc
    figure: type[Figure] = module.Figure
    return figure


def write_charts(
    series: dict[str, HourlySeries],
    replays: dict[str, Replay],
    alerting: dict[str, BoolArray],
    directory: Path,
    importer: Importer | None = None,
) -> list[Path]:
    """Write ``<queue>.png`` per replayed queue into ``directory`` (created); the paths.

    ``alerting`` holds, per queue, the hours the forecast rule alerted.
    """
    figure = figure_class(importer)
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for queue, rep in replays.items():
        path = directory / f"{_file_stem(queue, {p.stem for p in written})}.png"
        fig = figure(figsize=(12, 4.5), layout="constrained")
        _draw(fig, queue, chart_data(series[queue], rep, alerting[queue]))
        fig.savefig(path, dpi=100)
        written.append(path)
    return written


def _file_stem(queue: str, taken: set[str]) -> str:
    """A file name from the queue name ('/', spaces... become '_'), unique in ``taken``."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", queue).strip("._") or "queue"
    candidate, k = stem, 2
    while candidate in taken:
        candidate, k = f"{stem}-{k}", k + 1
    return candidate


def _draw(fig: Figure, queue: str, data: ChartData) -> None:
    """Open count, forecast and band, limit, alerting spans and breach onsets."""
    ax = fig.subplots()
    t = data.timestamps
    ax.plot(t, data.actual, color="black", linewidth=1, label="open")
    ax.plot(t, data.point, color="tab:blue", linewidth=1, label=f"forecast, {HORIZON} h ahead")
    ax.fill_between(
        t,
        data.lower,
        data.upper,
        color="tab:blue",
        alpha=0.2,
        linewidth=0,
        label="80% band",
    )
    ax.axhline(data.limit, color="tab:red", linestyle="--", label=f"limit {round(data.limit, 1):g}")
    hour = np.timedelta64(1, "h")
    label = "forecast rule alerting"
    for first, last in runs_of(data.alerting):
        ax.axvspan(t[first], t[last] + hour, color="tab:orange", alpha=0.25, label=label)
        label = "_nolegend_"
    if data.onsets:
        ax.plot(
            t[data.onsets],
            data.actual[data.onsets],
            "v",
            color="tab:red",
            markersize=7,
            label="breach onset",
        )
    n = len(data.onsets)
    ax.set_title(f"{queue}: test period, {n} breach{'es' if n != 1 else ''} of the limit")
    ax.set_ylabel("open tickets")
    ax.margins(x=0)
    fig.legend(loc="outside lower center", ncols=3, fontsize="small", frameon=False)
