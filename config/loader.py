"""Loading the YAML file and the environment into :class:`Settings`, with every error at once."""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_settings import SettingsError

from alerting.destinations import AllowList, configured_urls, literal_refusal
from alerting.notifiers import REGISTRY as NOTIFIERS
from alerting.routing import validate
from alerting.rules import KINDS as RULE_KINDS
from collectors import REGISTRY as COLLECTORS
from collectors.github import shared_quota_problems
from config.settings import Settings
from monitor.errors import ConfigError
from monitor.intake.checks import intake_problems

_TAGS = frozenset(COLLECTORS) | frozenset(NOTIFIERS) | frozenset(RULE_KINDS)
ENV_PREFIX = "BACKLOG_MONITOR_"
NOT_SETTINGS = frozenset({"BACKLOG_MONITOR_CONFIG"})
"""``BACKLOG_MONITOR_...`` variables read by the command line, not by :class:`Settings`."""


def load_settings(path: Path | None = None, text: str | None = None) -> Settings:
    """Read, validate and cross-check the configuration.

    Args:
        path: a YAML file; None for defaults plus environment only.
        text: YAML text instead of a file (tests, the demo).

    Raises:
        ConfigError: every problem found, each with its path.
    """
    label = str(path) if path is not None else "configuration"
    data = _read_yaml(path, text, label)
    unknown = environment_problems(os.environ)
    try:
        settings = Settings(**data)
    except ValidationError as err:
        raise ConfigError(unknown + format_errors(err), label) from None
    except SettingsError as err:  # e.g. a list or mapping variable that is not JSON
        problem = ("environment", f"{err} (lists and mappings are written as JSON)")
        raise ConfigError([*unknown, problem], label) from None
    problems = unknown + reference_problems(settings)
    if problems:
        raise ConfigError(problems, label)
    return settings


def _read_yaml(path: Path | None, text: str | None, label: str) -> dict[str, Any]:
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError([("", f"cannot read {path}: {exc.strerror}")], label) from None
        except UnicodeDecodeError as exc:
            where = f"byte {exc.start}"
            raise ConfigError([(where, "not UTF-8 text (is this the file?)")], label) from None
    if not text:
        return {}
    try:
        data = safe_load_bounded(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([(where, f"invalid YAML: {problem}")], label) from None
    except (RecursionError, TooLarge) as exc:
        problem = str(exc) if isinstance(exc, TooLarge) else "nested too deeply"
        raise ConfigError([("YAML", problem)], label) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([("", "the top level must be a mapping of settings")], label)
    if not all(isinstance(key, str) for key in data):
        raise ConfigError([("", "every top-level key must be a setting's name")], label)
    return data


class TooLarge(Exception):
    """A YAML document that would expand to more than :data:`MAX_YAML_NODES` values."""


MAX_YAML_NODES = 100_000
"""Ample for any real configuration; a few aliases of aliases ("billion laughs") exceed
it long before they exhaust memory or the validator's time."""


def safe_load_bounded(text: str) -> Any:
    """``yaml.safe_load``, refusing documents whose aliases expand past the limit.

    The node graph is measured before anything is built: an alias counts as a full copy
    of what it names (that is what validation would walk), and a recursive alias counts
    as unbounded.
    """
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        expanded_size(node, {})
        return loader.construct_document(node)
    finally:
        loader.dispose()


def expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """Values under ``node`` with every alias expanded (raises :class:`TooLarge`)."""
    known = sizes.get(id(node))
    if known is not None:
        if known < 0:
            raise TooLarge("the YAML refers to itself (a recursive alias)")
        return known
    sizes[id(node)] = -1  # in progress: meeting it again below means a cycle
    total = 1
    if isinstance(node, yaml.MappingNode):
        children = [child for pair in node.value for child in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    else:
        children = []
    for child in children:
        total += expanded_size(child, sizes)
        if total > MAX_YAML_NODES:
            raise TooLarge(f"the YAML expands to more than {MAX_YAML_NODES} values (aliases?)")
    sizes[id(node)] = total
    return total


def environment_problems(environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """``BACKLOG_MONITOR_...`` variables that name no setting (pydantic-settings ignores them)."""
    known = ", ".join(sorted(Settings.model_fields))
    problems = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in NOT_SETTINGS:
            continue
        top = upper.removeprefix(ENV_PREFIX).split("__", 1)[0].lower()
        if top not in Settings.model_fields:
            problems.append((name, f"unknown setting {top!r} in the environment; known: {known}"))
    return problems


def format_errors(err: ValidationError) -> list[tuple[str, str]]:
    """``(path, message)`` per error, paths written ``sources -> 0 -> url``."""
    problems = []
    for item in err.errors(include_url=False):
        parts = item["loc"]
        loc = [
            str(p)
            for i, p in enumerate(parts)
            if not (_is_tag(p) and i > 0 and isinstance(parts[i - 1], int))
            and not str(p).startswith("function-")
        ]
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        elif item["type"] == "union_tag_invalid":
            message = (
                f"unknown kind {item['input'].get('kind')!r}; known: {', '.join(sorted(_TAGS))}"
            )
        message = message.removeprefix("Value error, ")
        problems.append((" -> ".join(loc), message))
    return problems


def _is_tag(part: object) -> bool:
    """A discriminated union's tag, which pydantic puts right after a list index."""
    return isinstance(part, str) and part in _TAGS


def reference_problems(settings: Settings) -> list[tuple[str, str]]:
    """Names that must be unique and references that must resolve."""
    problems: list[tuple[str, str]] = []
    sections: dict[str, list[str]] = {
        "time_intervals": [t.name for t in settings.time_intervals],
        "sources": [s.name for s in settings.sources],
        "receivers": [r.name for r in settings.receivers],
        "rules": [r.name for r in settings.rules],
    }
    for section, names in sections.items():
        counts = Counter(names)
        for i, name in enumerate(names):
            if counts[name] > 1:
                problems.append((f"{section} -> {i} -> name", f"duplicate name {name!r}"))
    receivers = {r.name for r in settings.receivers}
    sources = {s.name for s in settings.sources}
    for i, rule in enumerate(settings.rules):
        for name in rule.receivers or ():
            if name not in receivers:
                problems.append((f"rules -> {i} -> receivers", f"no receiver named {name!r}"))
        source = rule.match.get("source")
        if source is not None and source not in sources:
            problems.append((f"rules -> {i} -> match -> source", f"no source named {source!r}"))
    problems += _tier_and_report_receivers(settings, receivers)
    problems += _first_assignment_sources(settings)
    problems += shared_quota_problems(settings.sources)  # GitHub: one quota per token
    problems += intake_problems(settings)  # webhook endpoints name sources that can push
    allow = AllowList.parse(settings.delivery.allowed_destinations)
    for i, receiver in enumerate(settings.receivers):
        for field, url in configured_urls(receiver):
            reason = literal_refusal(url, allow)
            if reason is not None:
                problems.append((f"receivers -> {i} -> {field}", reason))
    if settings.route is not None:
        problems += validate(
            settings.route, receivers, {interval.name for interval in settings.time_intervals}
        )
    return problems


def _first_assignment_sources(settings: Settings) -> list[tuple[str, str]]:
    """A routing rule on the time to first assignment needs a source it selects that
    records it (otherwise it would never have data)."""
    problems = []
    for i, rule in enumerate(settings.rules):
        if getattr(rule, "measure", None) != "first_assignment_mean":
            continue
        named, pattern = rule.match.get("source"), rule.match_re.get("source")
        chosen = [
            s
            for s in settings.sources
            if (named is None or s.name == named)
            and (pattern is None or re.fullmatch(pattern, s.name) is not None)
        ]
        if not any(getattr(s, "records_first_assignment", lambda: False)() for s in chosen):
            problems.append(
                (
                    f"rules -> {i} -> measure",
                    "none of the sources this rule selects records the time to first "
                    "assignment (Zendesk and Jira Cloud sources with workload.routing do, and SQL"
                    " sources with a workload section and mapping.first_assigned_at)",
                )
            )
    return problems


def _tier_and_report_receivers(settings: Settings, receivers: set[str]) -> list[tuple[str, str]]:
    """Stale rules' tiers and the report name receivers that must exist."""
    problems = []
    for i, rule in enumerate(settings.rules):
        for j, tier in enumerate(getattr(rule, "tiers", ())):
            for name in tier.receivers:
                if name not in receivers:
                    path = f"rules -> {i} -> tiers -> {j} -> receivers"
                    problems.append((path, f"no receiver named {name!r}"))
    # the report goes to webhook receivers (JSON) and Slack (Block Kit), not to paging
    webhooks = {r.name for r in settings.receivers if r.kind in ("webhook", "slack")}
    for i, name in enumerate(settings.report.webhooks):
        if name not in webhooks:
            problem = f"no webhook or slack receiver named {name!r}"
            problems.append((f"report -> webhooks -> {i}", problem))
    return problems
