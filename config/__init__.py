"""Typed configuration, validated once at start-up."""

from config.durations import Duration, format_duration, parse_duration
from config.loader import load_settings
from config.settings import Settings

__all__ = ["Duration", "Settings", "format_duration", "load_settings", "parse_duration"]
