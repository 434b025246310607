"""The real series the forecast tests share."""

from __future__ import annotations

import pandas as pd

from forecasts.types import HourlySeries
from tests.data import SERVICENOW_HOURLY


def servicenow_total() -> HourlySeries:
    """The ServiceNow total backlog, hourly, in its usable window (2016-03-14 .. 05-31)."""
    frame = pd.read_csv(SERVICENOW_HOURLY, parse_dates=["timestamp"]).set_index("timestamp")
    window = frame.loc["2016-03-14":"2016-05-31"]
    return HourlySeries.from_arrays(
        window.index.to_numpy(dtype="datetime64[h]"),
        window["open"],
        window["created"],
        window["resolved"],
    )
