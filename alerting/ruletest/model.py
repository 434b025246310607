"""The test file, validated: promtool's fields plus our ``exp_state``."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from config.durations import Duration

State = Literal["pending", "firing", "resolved", "inactive"]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class InputSeries(_Strict):
    """One series: ``backlog_open_tickets{source="s",queue="q",...}`` and its values."""

    series: str
    values: str


class ExpAlert(_Strict):
    """An expected alert; without ``exp_state`` it is firing (as in promtool)."""

    exp_labels: dict[str, str] = Field(default_factory=dict)
    exp_annotations: dict[str, str] | None = Field(
        None, description="checked only when given (promtool compares them always)"
    )
    exp_state: State | None = Field(None, description="our extension; promtool rejects it")


class AlertTest(_Strict):
    """The alerts of one rule at one instant."""

    eval_time: Duration
    alertname: str
    exp_alerts: tuple[ExpAlert, ...] = ()


class TestGroup(_Strict):
    """One ``tests[]`` entry (``promql_expr_test`` is not supported and is rejected)."""

    __test__: ClassVar[bool] = False  # not a pytest class

    name: str = ""
    interval: Duration | None = Field(None, description="defaults to evaluation_interval")
    input_series: tuple[InputSeries, ...] = ()
    alert_rule_test: tuple[AlertTest, ...] = ()
    start_timestamp: float = 0.0
    external_labels: dict[str, str] = Field(default_factory=dict)
    external_url: str = ""


class TestFile(_Strict):
    """A whole test file; ``rule_files`` name our configuration files (their ``rules:``)."""

    __test__: ClassVar[bool] = False  # not a pytest class

    rule_files: tuple[str, ...]
    evaluation_interval: Duration = timedelta(minutes=1)
    group_eval_order: tuple[str, ...] = ()
    tests: tuple[TestGroup, ...] = ()
