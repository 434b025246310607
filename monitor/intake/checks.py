"""The configuration check of ``http.intake``: each entry names a source that can push,
once, and its early polls fit the source's request budget; for GitHub, the budget of
the token, which every GitHub source of that token shares (searches a minute, GraphQL
points an hour), with the early polls of each of them that has an intake."""

from __future__ import annotations

from collections import Counter

from collectors.github import GitHubConfig, by_token, token_use
from collectors.hosted.config import HostedSourceConfig
from config.settings import Settings
from monitor.intake import SCHEMES


def intake_problems(settings: Settings) -> list[tuple[str, str]]:
    """``(path, message)`` per problem of the intake entries."""
    problems: list[tuple[str, str]] = []
    sources = {source.name: source for source in settings.sources}
    counts = Counter(intake.source for intake in settings.http.intake)
    for i, intake in enumerate(settings.http.intake):
        path = f"http -> intake -> {i}"
        source = sources.get(intake.source)
        if source is None:
            problems.append((f"{path} -> source", f"no source named {intake.source!r}"))
            continue
        if source.kind not in SCHEMES:
            kinds = ", ".join(sorted(SCHEMES))
            problems.append(
                (f"{path} -> source", f"a {source.kind} source cannot push (only {kinds})")
            )
            continue
        if counts[intake.source] > 1:
            problems.append((f"{path} -> source", f"{intake.source!r} has several intakes"))
        if isinstance(source, HostedSourceConfig) and not isinstance(source, GitHubConfig):
            over = early_poll_overrun(source, intake.min_gap.total_seconds())
            if over is not None:
                problems.append((f"{path} -> min_gap", over))
    return problems + github_token_problems(settings)


def github_token_problems(settings: Settings) -> list[tuple[str, str]]:
    """``(path, message)`` for GitHub sources of one token whose polls and early polls
    together would be over the token's budget (what is over without any early poll is
    the loader's shared-quota check's to report, not this one's)."""
    gaps = {intake.source: intake.min_gap.total_seconds() for intake in settings.http.intake}
    where = {intake.source: i for i, intake in enumerate(settings.http.intake)}
    problems = []
    for members in by_token(settings.sources):
        configs = [s for _, s in members]
        pushing = [s.name for s in configs if s.name in gaps]
        if not pushing:
            continue
        already = {what for what, used, allowed in token_use(configs) if used > allowed}
        for what, used, allowed in token_use(configs, gaps):
            if used <= allowed or what in already:
                continue
            names = ", ".join(s.name for s in configs)
            early = ", ".join(f"{name} every {gaps[name]:g}s" for name in pushing)
            problems.append(
                (
                    f"http -> intake -> {max(where[n] for n in pushing)} -> min_gap",
                    f"polls and early polls of GitHub {names} (one token; early: {early}) "
                    f"could use {used:.0f} {what}, over the {allowed:.0f} this daemon may "
                    "use; raise min_gap",
                )
            )
    return problems


def early_poll_overrun(source: HostedSourceConfig, min_gap: float) -> str | None:
    """Why polls every ``interval`` plus early polls every ``min_gap`` (the most intake
    can add) would be over the source's requests a minute, or None."""
    allowed = source.budget.per_minute()
    if allowed is None:
        return None
    polls = 60.0 / max(1.0, source.interval.total_seconds()) + 60.0 / max(1.0, min_gap)
    used = source.poll_cost().requests * polls
    if used <= allowed:
        return None
    return (
        f"polls every {source.interval.total_seconds():g}s and early polls every "
        f"{min_gap:g}s could use {used:.0f} requests a minute, over the {allowed} this "
        "daemon may use; raise min_gap"
    )
