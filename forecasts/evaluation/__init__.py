"""Scoring forecasts: accuracy per model and early warning as events (pure, numpy)."""
