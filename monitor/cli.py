"""The ``backlog-monitor`` command line (click)."""

from __future__ import annotations

import io
import logging
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from config.loader import load_settings
from config.settings import Settings
from monitor import logs
from monitor.errors import ConfigError, MissingExtra, StoreError

log = logging.getLogger(__name__)

CONFIG = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="BACKLOG_MONITOR_CONFIG",
    help="YAML configuration file.",
)


def _settings(config_path: Path | None) -> Settings:
    try:
        return load_settings(config_path)
    except ConfigError as err:
        click.echo(str(err), err=True)
        sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="backlog-monitor")
def main() -> None:
    """Watch support-ticket backlogs, forecast them and warn before they overflow."""


@main.command()
@CONFIG
def run(config_path: Path | None) -> None:
    """Run the daemon in the foreground (SIGTERM or Ctrl-C stops it gracefully)."""
    from monitor.checks import check_sources
    from monitor.runner import run as run_daemon

    settings = _settings(config_path)
    logs.configure(settings.log_level)
    try:
        checks = check_sources(settings, str(config_path or "configuration"))
    except ConfigError as err:
        click.echo(str(err), err=True)
        sys.exit(2)
    for path, message in checks.warnings:  # the daemon starts; these figures stay absent
        log.warning("%s: %s", path, message)
    from collectors.hosted.config import budget_warnings

    for path, message in budget_warnings(settings.sources):  # close to a plan's limit
        log.warning("%s: %s", path, message)
    try:
        sys.exit(run_daemon(settings))
    except StoreError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    except OSError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)


@main.command("check-config")
@CONFIG
@click.option(
    "--connect",
    is_flag=True,
    help="Also check each SQL mapping against its database's live schema.",
)
def check_config(config_path: Path | None, connect: bool) -> None:
    """Validate the configuration without starting anything (exit code 2 on errors)."""
    settings = _settings(config_path)
    from collectors.hosted.config import budget_warnings

    for path, message in budget_warnings(settings.sources):  # close to a plan's limit
        click.echo(f"warning: {path}: {message}", err=True)
    if connect:
        from monitor.checks import check_sources

        try:
            checks = check_sources(settings, str(config_path or "configuration"))
        except ConfigError as err:
            click.echo(str(err), err=True)
            sys.exit(2)
        for name, reason in checks.unreachable:
            click.echo(
                f"warning: source {name} not reachable, mapping not checked: {reason}", err=True
            )
        for path, message in checks.warnings:
            click.echo(f"warning: {path}: {message}", err=True)
    click.echo(
        f"configuration OK: {len(settings.sources)} source(s), {len(settings.rules)} rule(s), "
        f"{len(settings.receivers)} receiver(s)"
    )


@main.command()
@CONFIG
def migrate(config_path: Path | None) -> None:
    """Create or upgrade the history store's schema, then exit."""
    from monitor.store.engine import migrate as apply
    from monitor.store.engine import open_store

    settings = _settings(config_path)
    try:
        revision = apply(open_store(settings.store.url))
    except StoreError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    click.echo(f"history store at revision {revision}")


@main.command()
@click.option(
    "--speed",
    default="3600",
    show_default=True,
    callback=lambda _ctx, _param, value: parse_speed(value),
    help="Simulated seconds per real second at most (3600: one hour of history a second);"
    " 'max': as fast as the machine can. Either way the replay tells the same story.",
)
@click.option(
    "--start",
    default="2016-03-20T00:00",
    show_default=True,
    help="Simulated start (local time of the log).",
)
@click.option("--hours", default=80.0, show_default=True, help="Simulated hours to replay.")
@click.option(
    "--listen",
    default="127.0.0.1:9464",
    show_default=True,
    help="Address of /metrics while the demo runs.",
)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to keep the demo databases (default: a new temporary folder).",
)
@click.option("--log-level", default="WARNING", show_default=True)
def demo(
    speed: float | None, start: str, hours: float, listen: str, workdir: Path | None, log_level: str
) -> None:
    """Replay a real ServiceNow incident log and watch a surge alert fire and resolve."""
    from monitor.demo.run import run_demo

    logs.configure(log_level.upper())
    try:
        began = datetime.fromisoformat(start)
    except ValueError:
        raise click.BadParameter(f"not an ISO date/time: {start}", param_hint="--start") from None
    sys.exit(
        run_demo(
            speed=speed,
            start=began,
            hours=hours,
            listen=listen,
            workdir=workdir,
            out=lambda line: click.echo(line),
        )
    )


def parse_speed(value: str) -> float | None:
    """``--speed``: a positive number, or ``max`` (None: unpaced)."""
    if value == "max":
        return None
    try:
        speed = float(value)
    except ValueError:
        speed = 0.0
    if not speed > 0:
        raise click.BadParameter(f"{value!r}: a positive number or 'max'", param_hint="--speed")
    return speed


# -- rule tools (logic in monitor/tools.py) ---------------------------------------------

HOURLY_CSV = click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Hourly series: timestamp,[queue,]open,created,resolved.",
)
"""The hourly CSV both backtests read (backtest-rules and backtest)."""

_WHEN = ["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]


@main.command("test-rules")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
def test_rules(files: tuple[Path, ...]) -> None:
    """Run promtool-style unit tests of the rules (exit code 1 when a test fails)."""
    from monitor import tools

    sys.exit(tools.test_rules(list(files)))


@main.command("export-rules")
@CONFIG
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the rules file here (default: standard output).",
)
def export_rules(config_path: Path | None, output: Path | None) -> None:
    """Write the rules Prometheus can express as a Prometheus alerting-rules file."""
    from monitor import tools

    if config_path is None:
        raise click.UsageError("--config is required")
    try:
        sys.exit(tools.export_rules(config_path, output))
    except ConfigError as err:
        click.echo(str(err), err=True)
        sys.exit(2)


@main.command("backtest-rules")
@CONFIG
@HOURLY_CSV
@click.option("--store", "use_store", is_flag=True, help="Replay the history store (read only).")
@click.option("--from", "start", type=click.DateTime(_WHEN), metavar="TIME", help="Start (UTC).")
@click.option(
    "--to", "end", type=click.DateTime(_WHEN), metavar="TIME", help="End (UTC), inclusive."
)
@click.option(
    "--step",
    default=None,
    help="Evaluation step, e.g. 1h (default: the CSV's spacing, or evaluation.interval).",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar on stderr (default: only on a terminal).",
)
def backtest_rules(
    config_path: Path | None,
    csv_path: Path | None,
    use_store: bool,
    start: datetime | None,
    end: datetime | None,
    step: str | None,
    progress: bool | None,
) -> None:
    """Replay history through the rules: when each alert would have fired and resolved."""
    from config.durations import parse_duration
    from monitor import tools

    if config_path is None:
        raise click.UsageError("--config is required")
    if (csv_path is None) == (not use_store):
        raise click.UsageError("give exactly one of --csv FILE or --store")
    try:
        every = parse_duration(step) if step is not None else None
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--step") from None
    try:
        sys.exit(tools.backtest_rules(config_path, csv_path, start, end, every, progress))
    except ConfigError as err:
        click.echo(str(err), err=True)
        sys.exit(2)
    except StoreError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)


# -- operator commands (logic in monitor/operator.py) -----------------------------------


def _store(config_path: Path | None) -> Any:
    """The configured history store, migrated (returns a SQLAlchemy engine)."""
    from monitor.store.engine import migrate, open_store

    engine = open_store(_settings(config_path).store.url)
    migrate(engine)
    return engine


@main.group()
def silence() -> None:
    """Create, list and expire silences (stored; the daemon applies them)."""


@silence.command("add")
@CONFIG
@click.argument("matchers", nargs=-1, required=True)
@click.option("--duration", default="2h", show_default=True, help="How long, e.g. 2h.")
@click.option("--author", required=True, help="Who creates the silence.")
@click.option("--comment", required=True, help="Why.")
def silence_add(
    config_path: Path | None,
    matchers: tuple[str, ...],
    duration: str,
    author: str,
    comment: str,
) -> None:
    """Silence alerts matching MATCHERS, e.g. alertname=BacklogHigh 'queue=~"Bill.*"'."""
    from pydantic import ValidationError

    from alerting.silences import SilenceInput
    from monitor import operator
    from monitor.clock import utcnow

    try:
        body = SilenceInput.model_validate(
            {
                "matchers": " ".join(matchers),
                "duration": duration,
                "createdBy": author,
                "comment": comment,
            }
        )
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        raise click.BadParameter(problems) from None
    created = operator.add_silence(_store(config_path), body, utcnow())
    click.echo(created.id)


@silence.command("list")
@CONFIG
def silence_list(config_path: Path | None) -> None:
    """List silences with their state."""
    from monitor import operator
    from monitor.clock import utcnow

    for item in operator.list_silences(_store(config_path), utcnow()):
        click.echo(operator.silence_line(item))


@silence.command("expire")
@CONFIG
@click.argument("silence_id")
def silence_expire(config_path: Path | None, silence_id: str) -> None:
    """End a silence now."""
    from monitor import operator
    from monitor.clock import utcnow

    if not operator.expire_silence(_store(config_path), silence_id, utcnow()):
        click.echo(f"no silence {silence_id}", err=True)
        sys.exit(1)


@main.group()
def outbox() -> None:
    """Inspect dead letters and replay them; re-enable a receiver."""


@outbox.command("dead")
@CONFIG
def outbox_dead(config_path: Path | None) -> None:
    """List notifications given up on."""
    from monitor import operator

    for row in operator.dead_letters(_store(config_path)):
        click.echo(
            f"{row['id']}  {row['receiver']}  {row['event']}  attempts={row['attempts']}  "
            f"{row['idempotency_key']}  {row['last_error']}"
        )


@outbox.command("replay")
@CONFIG
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "everything", is_flag=True, help="Replay every dead letter.")
def outbox_replay(config_path: Path | None, ids: tuple[int, ...], everything: bool) -> None:
    """Queue dead letters again (same idempotency keys)."""
    from monitor import operator

    if not ids and not everything:
        raise click.UsageError("give message ids or --all")
    count = operator.replay(_store(config_path), None if everything else list(ids))
    click.echo(f"{count} message(s) queued again")


@outbox.command("enable")
@CONFIG
@click.argument("receiver")
def outbox_enable(config_path: Path | None, receiver: str) -> None:
    """Re-enable a receiver disabled by 410 Gone and close its circuit breaker."""
    from monitor import operator

    operator.enable_receiver(_store(config_path), receiver)
    click.echo(f"receiver {receiver} enabled")


@main.command("backtest")
@CONFIG
@HOURLY_CSV
@click.option("--store", "use_store", is_flag=True, help="Use the store's hourly rollups.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the JSON report here.",
)
@click.option("--workers", default=2, show_default=True, help="Processes to replay with.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar on stderr (default: only on a terminal).",
)
@click.option(
    "--charts",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Also draw a PNG chart per queue into DIR (needs the 'plot' extra: matplotlib).",
)
def backtest(
    config_path: Path | None,
    csv_path: Path | None,
    use_store: bool,
    output: Path | None,
    workers: int,
    progress: bool | None,
    charts: Path | None,
) -> None:
    """Replay the daemon's forecasts hour by hour: accuracy, early warning, alert timelines.

    With --config, the engine settings of its forecasts: section and the alert
    timeline of each of its forecast rules, as the daemon would have produced them.
    """
    from monitor import backtest as forecast_backtest

    if (csv_path is None) == (not use_store):
        raise click.UsageError("give exactly one of --csv FILE or --store")
    try:
        series = (
            forecast_backtest.read_csv(csv_path)
            if csv_path is not None
            else forecast_backtest.read_store(_settings(config_path).store.url)
        )
    except ConfigError as err:
        click.echo(str(err), err=True)
        sys.exit(2)
    try:
        code = forecast_backtest.run(
            series, output, workers, progress, charts=charts, config=config_path
        )
    except MissingExtra as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(2)
    sys.exit(code)


# -- snapshot and backfill (logic in monitor/snapshot.py and monitor/backfill.py) ---------


@main.command("snapshot")
@CONFIG
@click.option("--source", "source", required=True, help="The source to measure.")
@click.option(
    "--as-of",
    "as_of",
    default=None,
    metavar="ISO",
    help="Measure as of this past instant, e.g. 2019-01-10T00:00Z (default: now, live).",
)
@click.option(
    "--window",
    default="1h",
    show_default=True,
    help="Count created and resolved tickets over this long before the instant.",
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def snapshot(
    config_path: Path | None, source: str, as_of: str | None, window: str, fmt: str
) -> None:
    """Print what a source measures now, or would have measured --as-of a past instant."""
    from config.durations import parse_duration
    from monitor import snapshot as snap
    from monitor.clock import utcnow
    from monitor.errors import CollectorError

    settings = _settings(config_path)
    try:
        instant = snap.parse_instant(as_of) if as_of is not None else None
    except ValueError:
        raise click.BadParameter(f"not an ISO date/time: {as_of}", param_hint="--as-of") from None
    try:
        span = parse_duration(window)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--window") from None
    try:
        taken = snap.take(settings, source, utcnow(), instant, span)
    except ConfigError as err:
        click.echo(str(err), err=True)
        sys.exit(2)
    except CollectorError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    click.echo(snap.as_json(taken) if fmt == "json" else snap.as_table(taken))


@main.command("backfill")
@CONFIG
@click.option("--source", "source", default=None, help="Only this source (default: every one).")
@click.option(
    "--since",
    default=None,
    help="How far back, e.g. 90d (default: backfill.since of the configuration).",
)
@click.option(
    "--until",
    default=None,
    metavar="ISO",
    help="End of the history to write, e.g. 2019-01-10T00:00Z (default: now).",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar on stderr (default: only on a terminal).",
)
def backfill_command(
    config_path: Path | None,
    source: str | None,
    since: str | None,
    until: str | None,
    progress: bool | None,
) -> None:
    """Write the hourly history of the past from the ticket stores' own times (resumable;
    hours the store already has are left alone, so a second run writes nothing)."""
    from config.durations import parse_duration
    from monitor import backfill
    from monitor.clock import utcnow
    from monitor.daemon import build_collectors
    from monitor.errors import CollectorError
    from monitor.snapshot import parse_instant

    settings = _settings(config_path)
    try:
        span = parse_duration(since) if since is not None else settings.backfill.since
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--since") from None
    if span is None:
        raise click.UsageError("give --since (or backfill.since in the configuration)")
    try:
        instant = parse_instant(until) if until is not None else None
    except ValueError:
        raise click.BadParameter(f"not an ISO date/time: {until}", param_hint="--until") from None
    if span < backfill.HOUR or span % backfill.HOUR:
        raise click.BadParameter("a whole number of hours, e.g. 90d", param_hint="--since")
    collectors = build_collectors(settings)
    readers = backfill.readers(collectors, source)
    if source is not None and not readers:
        click.echo(f"error: no source named {source!r} that can be backfilled", err=True)
        sys.exit(2)
    engine = _store(config_path)
    start, end = backfill.span(instant if instant is not None else utcnow(), span)
    show = sys.stderr.isatty() if progress is None else progress
    code = 0
    try:
        for name, reader in readers.items():
            hours = backfill.planned_hours(engine, name, start, end)
            out = sys.stderr if show else io.StringIO()
            with click.progressbar(length=hours, label=name, file=out) as bar:
                try:
                    result = backfill.backfill_source(
                        engine, reader, name, start, end, settings.backfill.chunk, bar.update
                    )
                except CollectorError as err:
                    click.echo(f"error: {err}", err=True)
                    code = 1
                    continue
            click.echo(f"{name}: {result.hours} hour(s) read, {result.rows} row(s) written")
    finally:
        for collector in collectors.values():
            collector.close()
        engine.dispose()
    sys.exit(code)


@main.command()
@CONFIG
@click.option("--period", default=None, help="How far back, e.g. 7d (default: report.period).")
@click.option("--source", default=None, help="The source to report on (default: the first).")
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Directory."
)
@click.option("--send", is_flag=True, help="Also send it (report.webhooks, report.email).")
def report(
    config_path: Path | None, period: str | None, source: str | None, out: Path, send: bool
) -> None:
    """Write the backlog report (HTML, CSV, Markdown) for the period ending now."""
    import smtplib
    from datetime import UTC

    from config.durations import parse_duration
    from monitor.errors import CollectorError, NotifierError
    from monitor.report.command import run_report

    settings = _settings(config_path)
    try:
        span = parse_duration(period) if period else settings.report.period
    except ValueError as err:
        click.echo(f"--period: {err}", err=True)
        sys.exit(2)
    try:
        paths, sent = run_report(settings, source, span, out, send, datetime.now(UTC))
    except ValueError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(2)
    except (CollectorError, NotifierError, OSError, smtplib.SMTPException) as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    for path in paths:
        click.echo(str(path))
    for destination in sent:
        click.echo(f"sent: {destination}")
