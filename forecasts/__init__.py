"""Backlog forecasts (pure: series and ``now`` in, forecasts out).

Filled in by the forecasting issue.
"""
