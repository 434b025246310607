"""A promtool-style unit test runner for our rules (pure: no files, no printing).

The test file has ``promtool test rules``' shape; its ``input_series`` use the metric
names the daemon exports (``backlog_open_tickets{source,queue,status,priority}``...),
which :mod:`alerting.ruletest.rows` turns into the snapshot rows the rules read. The
real engine then runs at every ``evaluation_interval``, state carried between steps.
"""

from __future__ import annotations

from alerting.ruletest.model import AlertTest, ExpAlert, InputSeries, TestFile, TestGroup
from alerting.ruletest.notation import STALE, expand_values, parse_selector
from alerting.ruletest.rows import build_rows
from alerting.ruletest.runner import AlertView, Failure, GroupResult, format_failure, run_group

__all__ = [
    "STALE",
    "AlertTest",
    "AlertView",
    "ExpAlert",
    "Failure",
    "GroupResult",
    "InputSeries",
    "TestFile",
    "TestGroup",
    "build_rows",
    "expand_values",
    "format_failure",
    "parse_selector",
    "run_group",
]
