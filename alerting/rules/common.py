"""What every rule kind shares: selection, labels, comparison with hysteresis, policies.

A rule kind only says how to *measure* a queue (:meth:`RuleBase.compute`); comparing,
hysteresis (``recover_threshold``), per-queue overrides and the ``no_data``/``on_error``
policies are common and live here.
"""

from __future__ import annotations

import operator
import re
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from alerting.state import Breaching, EvalError, NoData, Ok, Outcome, Timing
from collectors.base import TOTAL_QUEUE
from config.durations import Duration, parse_duration

Op = Literal[">", ">=", "<", "<=", "==", "!="]
Policy = Literal["keep_last", "ok", "alerting"]
Row = Mapping[str, Any]

OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
MATCH_LABELS = ("source", "queue", "status", "priority")
LOOKBACK = timedelta(minutes=15)
"""How old the newest sample may be for a rule without a window."""


def _number_or_duration(value: Any) -> Any:
    """Thresholds on ages may be written as durations (``3d``); they become seconds."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return parse_duration(value).total_seconds()
    return value


Threshold = Annotated[float, BeforeValidator(_number_or_duration)]


@dataclass(frozen=True)
class ForecastView:
    """What the forecast rule needs of one queue's latest forecast (hourly steps)."""

    made_at: datetime
    point: Sequence[float]
    upper: Sequence[float]
    model: str
    status: str = "ok"
    breach_probability: Mapping[str, float] = field(default_factory=dict)
    """Probability of crossing, keyed ``"<limit>@<hours>"``."""
    breach_model: str | None = None
    """The model whose calibrated paths gave ``breach_probability`` (else ``model``)."""
    arrivals: Sequence[float] = ()
    """Forecast arrivals per hour, step k covering the hour from ``made_at + k h``."""
    observed: Sequence[float] = ()
    """The last observed open counts, one per hour, oldest first, the last at the hour
    the forecast was made from (NaN: an hour the engine did not hold)."""
    rises: Sequence[float] = ()
    """The queue's own typical rises over the alert horizon, at
    :data:`forecasts.types.RISE_QUANTILES` (empty: none known yet)."""


@dataclass(frozen=True)
class EvalContext:
    """Data beyond the snapshot rows that some rule kinds read."""

    forecasts: Mapping[tuple[str, str], ForecastView] = field(default_factory=dict)
    last_seen: Mapping[tuple[str, str], datetime] = field(default_factory=dict)
    down: Mapping[str, str] = field(default_factory=dict)
    sources: tuple[str, ...] = ()
    max_gap: timedelta | None = None
    """The most one gap between evaluations counts towards ``for`` (alerting.state.bridge)."""


@dataclass(frozen=True)
class Measured:
    """A rule's value for one queue, with how it was obtained in words."""

    value: float
    text: str


class Override(BaseModel):
    """A different threshold for the queues it matches."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    match: dict[str, str] = Field(default_factory=dict)
    match_re: dict[str, str] = Field(default_factory=dict)
    threshold: Threshold | None = None
    recover_threshold: Threshold | None = None

    def selects(self, labels: Mapping[str, str]) -> bool:
        return _selects(self.match, self.match_re, labels)


class RuleBase(BaseModel):
    """Fields and behaviour common to every rule kind."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    match: dict[str, str] = Field(default_factory=dict, description="label equality")
    match_re: dict[str, str] = Field(default_factory=dict, description="anchored regexes")
    op: Op = ">"
    threshold: Threshold
    recover_threshold: Threshold | None = Field(
        None, description="while firing, the value must pass this to resolve (hysteresis)"
    )
    overrides: tuple[Override, ...] = ()
    for_: Duration = Field(timedelta(0), alias="for")
    keep_firing_for: Duration = timedelta(0)
    severity: Literal["critical", "warning", "info"] = "warning"
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    receivers: tuple[str, ...] | None = Field(
        None, description="receivers to notify; all receivers (or the routes) when omitted"
    )
    no_data: Policy = "keep_last"
    on_error: Policy = "keep_last"

    @model_validator(mode="after")
    def _valid_matchers(self) -> RuleBase:
        unknown = sorted({*self.match, *self.match_re} - set(MATCH_LABELS))
        if unknown:
            raise ValueError(f"match may only use {', '.join(MATCH_LABELS)}; got {unknown}")
        for key, pattern in self.match_re.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"match_re {key}: invalid regex: {exc}") from None
        return self

    # -- selection and identity --------------------------------------------------------

    @property
    def timing(self) -> Timing:
        return Timing(for_=self.for_, keep_firing_for=self.keep_firing_for)

    def selects(self, source: str, queue: str) -> bool:
        """Whether the rule applies to this queue (status/priority matchers filter values).

        A source's total (queue ``__total__``) is selected only by name,
        ``match: {queue: __total__}``: a rule over "every queue" means the real queues.
        """
        if not selects_total(self.match, queue):
            return False
        wanted = {"source": source, "queue": queue}
        eq = {k: v for k, v in self.match.items() if k in wanted}
        rx = {k: v for k, v in self.match_re.items() if k in wanted}
        return _selects(eq, rx, wanted)

    def labels_for(self, source: str, queue: str) -> dict[str, str]:
        """The final label set of the instance for one queue."""
        return {
            "alertname": self.name,
            "source": source,
            "queue": queue,
            "severity": self.severity,
            **self.labels,
        }

    # -- measuring (per kind) and deciding (common) --------------------------------------

    def compute(
        self, rows: Sequence[Row], now: datetime, ctx: EvalContext, key: tuple[str, str]
    ) -> Measured | NoData:
        """The kind's value for one queue at ``now``; :class:`NoData` when there is none.

        ``rows`` must be oldest first (non-decreasing ``ts``): the kinds find their
        window by bisection. :func:`alerting.engine.evaluate` sorts a series that is not.
        """
        raise NotImplementedError

    def expression(self) -> str:
        """The rule's measure in words, e.g. ``avg(open_tickets[2h])``."""
        raise NotImplementedError

    def describe(self) -> str:
        return f"{self.expression()} {self.op} {number(self.threshold)}"

    def limits(self, labels: Mapping[str, str]) -> tuple[float, float | None]:
        """``(threshold, recover_threshold)`` for a queue, after overrides."""
        threshold, recover = self.threshold, self.recover_threshold
        for override in self.overrides:
            if override.selects(labels):
                threshold = override.threshold if override.threshold is not None else threshold
                if override.recover_threshold is not None:
                    recover = override.recover_threshold
                break
        return threshold, recover

    def decide(self, measured: Measured, labels: Mapping[str, str], firing: bool) -> Outcome:
        """Compare; while firing, the recovery threshold (if any) decides instead."""
        threshold, recover = self.limits(labels)
        limit = recover if firing and recover is not None else threshold
        text = f"{measured.text} = {number(measured.value)}"
        if OPS[self.op](measured.value, limit):
            return Breaching(measured.value, f"{text} {self.op} {number(limit)}")
        return Ok(measured.value, f"{text}, not {self.op} {number(limit)}")

    def outcome(
        self,
        rows: Sequence[Row],
        now: datetime,
        ctx: EvalContext,
        key: tuple[str, str],
        firing: bool,
        last_value: float | None,
    ) -> Outcome:
        """Measure, decide, and apply the ``no_data`` and ``on_error`` policies."""
        down = ctx.down.get(key[0])
        if down is not None:
            return apply_policy(self.on_error, EvalError(f"source down ({down})"), last_value)
        measured = self.compute(rows, now, ctx, key)
        if isinstance(measured, NoData):
            return apply_policy(self.no_data, measured, last_value)
        return self.decide(measured, self.labels_for(*key), firing)


def apply_policy(policy: Policy, outcome: NoData | EvalError, last: float | None) -> Outcome:
    """``keep_last`` keeps the state; ``ok`` and ``alerting`` force the outcome."""
    value = last if last is not None else float("nan")
    if policy == "ok":
        return Ok(value, f"{outcome.reason} (policy: ok)")
    if policy == "alerting":
        return Breaching(value, f"{outcome.reason} (policy: alerting)")
    return outcome


def selects_total(match: Mapping[str, str], queue: str) -> bool:
    """False for a source's total (:data:`TOTAL_QUEUE`) unless ``match`` names it."""
    return queue != TOTAL_QUEUE or match.get("queue") == TOTAL_QUEUE


def _selects(eq: Mapping[str, str], rx: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    if any(labels.get(k, "") != v for k, v in eq.items()):
        return False
    return all(re.fullmatch(p, labels.get(k, "")) for k, p in rx.items())


_TS = operator.itemgetter("ts")

FIGURES = (
    "created",
    "resolved",
    "oldest_age_s",
    "older_than",
    "age_quantiles",
    "sla_breached_open",
    "sla_at_risk",
    "unassigned",
    "reopened",
)
"""The snapshot figures a source may not give (None in the row when it does not)."""


def snapshot_row(
    key: tuple[str, str], ts: datetime, window_start: datetime, **values: Any
) -> dict[str, Any]:
    """A snapshot row as the rules read it, for inputs not from the store (rule tests,
    CSV backtests): every figure in :data:`FIGURES` None unless given in ``values``."""
    return {
        "source": key[0],
        "queue": key[1],
        "ts": ts,
        "window_start": window_start,
        **dict.fromkeys(FIGURES),
        **values,
    }


def newest_at(rows: Sequence[Row], now: datetime) -> int:
    """How many of ``rows`` (oldest first) have ``ts <= now``: ``rows[:i]``, by bisection."""
    return bisect_right(rows, now, key=_TS)


def in_window(rows: Sequence[Row], start: datetime, now: datetime) -> Sequence[Row]:
    """The rows with ``start < ts <= now`` of ``rows`` (oldest first), by bisection."""
    hi = bisect_right(rows, now, key=_TS)
    return rows[bisect_right(rows, start, 0, hi, key=_TS) : hi]


def is_ordered(rows: Sequence[Row]) -> bool:
    """Whether ``rows`` are oldest first (non-decreasing ``ts``)."""
    stamps = list(map(_TS, rows))
    return stamps == sorted(stamps)  # sorted() is linear on sorted input


def window_values(
    samples: Sequence[tuple[datetime, float]], now: datetime, window: timedelta
) -> list[float]:
    """Values with ``now - window < ts <= now`` (the newest only within LOOKBACK if no window)."""
    start = now - (window if window > timedelta(0) else LOOKBACK)
    values = [v for ts, v in samples if start < ts <= now]
    return values if window > timedelta(0) else values[-1:]


def number(value: float) -> str:
    """A value for people: ``512.5``, ``1209600`` (``:g``, but never in exponent notation)."""
    text = f"{value:g}"
    if "e" in text and abs(value) >= 1:
        text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text


def render(template: str, values: Mapping[str, Any]) -> str:
    """Fill ``{name}`` placeholders; unknown names are left as written."""

    class _Keep(dict[str, Any]):
        def __missing__(self, key: str) -> str:
            return "{" + key + "}"

    try:
        return template.format_map(_Keep(values))
    except (ValueError, IndexError, AttributeError):
        return template
