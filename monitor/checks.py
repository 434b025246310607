"""Start-up checks that need the ticket stores: each SQL mapping against the live schema."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from collectors.sql import SqlSourceConfig
from collectors.sqlsession import open_engine
from collectors.validate import check_mapping
from config.settings import Settings
from monitor.errors import CollectorError, ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceChecks:
    """What the live checks found that does not stop the start.

    Attributes:
        unreachable: ``(source, reason)`` of the stores that could not be checked now.
        warnings: ``(path, message)`` of optional figures that will be absent (a table
            missing or not readable, with the grant to give).
    """

    unreachable: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)


def check_sources(settings: Settings, label: str = "configuration") -> SourceChecks:
    """Validate every reachable SQL source's mapping against its database.

    Raises:
        ConfigError: a mapping names a table, column or expression the core figures need
            and the database rejects (every such problem, with its path). Unreachable
            stores and unreadable optional figures are not errors: the daemon starts,
            retries the former and reports the latter absent.
    """
    problems: list[tuple[str, str]] = []
    found = SourceChecks()
    for index, source in enumerate(settings.sources):
        if not isinstance(source, SqlSourceConfig):
            continue
        engine = open_engine(source.database_url(), source.timeout, source.session_time_zone)
        try:
            checked = check_mapping(engine, source.mapping, source.name, index)
        except CollectorError as err:
            found.unreachable.append((source.name, str(err)))
            log.warning("cannot check %s now: %s", source.name, err, extra={"source": source.name})
        else:
            problems += checked.problems
            found.warnings.extend(checked.warnings)
        finally:
            engine.dispose()
    if problems:
        raise ConfigError(problems, label)
    return found
