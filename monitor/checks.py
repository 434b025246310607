"""Start-up checks that need the ticket stores: each SQL mapping against the live schema."""

from __future__ import annotations

import logging

from collectors.sql import SqlSourceConfig
from collectors.sqlsession import open_engine
from collectors.validate import validate_mapping
from config.settings import Settings
from monitor.errors import CollectorError, ConfigError

log = logging.getLogger(__name__)


def check_sources(settings: Settings, label: str = "configuration") -> list[tuple[str, str]]:
    """Validate every reachable SQL source's mapping; returns the sources not reachable.

    Raises:
        ConfigError: a mapping names a table, column or expression the database rejects
            (every such problem, with its path). Unreachable stores are not errors: the
            daemon starts and retries them.
    """
    problems: list[tuple[str, str]] = []
    unreachable: list[tuple[str, str]] = []
    for index, source in enumerate(settings.sources):
        if not isinstance(source, SqlSourceConfig):
            continue
        engine = open_engine(source.database_url(), source.timeout, source.session_time_zone)
        try:
            problems += validate_mapping(engine, source.mapping, source.name, index)
        except CollectorError as err:
            unreachable.append((source.name, str(err)))
            log.warning("cannot check %s now: %s", source.name, err, extra={"source": source.name})
        finally:
            engine.dispose()
    if problems:
        raise ConfigError(problems, label)
    return unreachable
