"""Typed configuration, validated once at start-up.

``config.settings.Settings`` is the model; ``config.loader.load_settings`` reads YAML and
the environment into it. This package imports nothing at load time, so plugins can use
``config.durations`` and ``config.secrets`` without import cycles.
"""
