"""1,000 queues x 10 rules per evaluation tick: the pure engine, then the daemon's whole job.

Run ``python -m benchmarks.alerting.evaluate`` from the project root (``--pg`` adds the
PostgreSQL store at 127.0.0.1:5432/test in a schema of its own, dropped afterwards;
``--profile`` prints a cProfile of one steady daemon tick).

Data: :mod:`benchmarks.alerting.data` (1,000 real-shaped queues replayed from the
ServiceNow incidents fixture, one snapshot row a minute; 121 rows per queue in the
2 h horizon = 121k rows). Rules: 10 (threshold avg 2h / last with for / max 1h / sum of
created 1h / one priority, flow net inflow 1h, aging oldest and >7d, sla average
resolution time vs 8h + 20%, absent 15m); thresholds at real percentiles of the data.

(a) ``alerting.engine.evaluate`` alone, over TICKS consecutive minutes (instances
    carried over): seconds per tick and microseconds per rule instance. Tick 0 is cold
    (every instance is new, every breach a transition); the steady figures exclude it.
    At the first and last tick, every rule's measure of every queue is checked equal
    to a full scan of the rows (:func:`benchmarks.alerting.fixes.same_measures`: the
    rules bisect their window since fix 2).
(b) ``Daemon.evaluate()`` on a migrated store holding the 121k rows (one new row per
    queue inserted, untimed, before each tick): load instances, health and rows,
    evaluate, save changed instances, enqueue notifications, in one transaction. The
    production daemon keeps the rows between ticks (fix 1, ``history.SeriesCache``);
    after each tick (untimed) the rows it used are checked equal to a fresh
    ``history.series`` read.
(c) The same job reading the whole horizon at every tick, as before fix 1
    (:class:`benchmarks.alerting.fixes.FullReadDaemon`), on a second, identical store;
    the transitions of (b) are checked equal to (c)'s, tick by tick.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import platform
import pstats
import statistics
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from alerting import engine as alert_engine
from alerting.rules import EvalContext
from alerting.state import AlertState
from benchmarks.alerting import data
from benchmarks.alerting.fixes import (
    NARROW,
    CheckedDaemon,
    FullReadDaemon,
    same_measures,
    series_fast,
)
from config.loader import load_settings
from config.settings import Settings
from monitor.daemon import Daemon
from monitor.store import history
from monitor.store.engine import migrate, open_store
from monitor.store.schema import queue_counters, snapshots, source_state
from tests.fakes import FakeClock, ScriptedCollector

HORIZON_MIN = 120
RESULTS = Path(__file__).resolve().parents[1] / "results"
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def settings_for(rows: dict[str, list[dict[str, Any]]]) -> Settings:
    text = data.rules_yaml(data.thresholds(rows))
    text += "receivers:\n  - kind: webhook\n    name: ops\n    url: http://127.0.0.1:9/hook\n"
    text += "delivery:\n  allowed_destinations: [127.0.0.1]\n"  # loopback (never sent to)
    return load_settings(text=text)


def at(minute: int):
    return data.T_START + timedelta(minutes=minute)


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q / 100 * (len(xs) - 1))))]


def summary(seconds: list[float], cpu: list[float], evaluated: list[int]) -> dict[str, float]:
    """Wall seconds (what the scheduler sees) and this process's CPU seconds (what the
    tick costs on a core of its own: the shared machine's other load inflates wall time)."""
    us = [s / n * 1e6 for s, n in zip(seconds, evaluated, strict=True)]
    cpu_us = [s / n * 1e6 for s, n in zip(cpu, evaluated, strict=True)]
    return {
        "ticks": len(seconds),
        "seconds_median": statistics.median(seconds),
        "seconds_p95": pct(seconds, 95),
        "seconds_max": max(seconds),
        "cpu_seconds_median": statistics.median(cpu),
        "cpu_seconds_p95": pct(cpu, 95),
        "us_per_instance_median": statistics.median(us),
        "us_per_instance_p95": pct(us, 95),
        "cpu_us_per_instance_median": statistics.median(cpu_us),
        "cpu_us_per_instance_p95": pct(cpu_us, 95),
        "instances_per_tick": statistics.median(evaluated),
    }


# -- (a) the pure engine ------------------------------------------------------------------


def pure_engine(rows, settings, ticks: int) -> dict[str, Any]:
    rules = settings.rules
    instances: dict = {}
    seconds, cpu, evaluated, changed, transitions = [], [], [], [], []
    same = []
    for k in range(ticks):
        now = at(HORIZON_MIN + k)
        series = {(data.SOURCE, q): r[k : k + HORIZON_MIN + 1] for q, r in rows.items()}
        ctx = EvalContext(last_seen=dict.fromkeys(series, now), sources=(data.SOURCE,))
        started, c0 = time.perf_counter(), time.process_time()
        result = alert_engine.evaluate(rules, series, instances, {}, ["ops"], now, "", ctx)
        seconds.append(time.perf_counter() - started)
        cpu.append(time.process_time() - c0)
        if k in (0, ticks - 1):  # untimed: bisection vs a full scan, every rule and queue
            same.append(same_measures(rules, series, now, ctx))
        evaluated.append(result.evaluated)
        changed.append(len(result.changed))
        transitions.append(len(result.transitions))
        for inst in result.changed:
            instances[inst.fingerprint] = inst
    firing = sum(i.state is AlertState.FIRING for i in instances.values())
    return {
        "cold_tick_seconds": seconds[0],
        "cold_tick_transitions": transitions[0],
        **summary(seconds[1:], cpu[1:], evaluated[1:]),
        "changed_per_tick_median": statistics.median(changed[1:]),
        "transitions_steady_total": sum(transitions[1:]),
        "firing_at_end": firing,
        "same_measures_as_full_scan": all(same),
    }


def per_rule(rows, settings, rules=None) -> dict[str, float]:
    """Microseconds per instance of each rule alone (steady tick, warm instances)."""
    rules = rules if rules is not None else settings.rules
    now = at(HORIZON_MIN)
    series = {(data.SOURCE, q): r[: HORIZON_MIN + 1] for q, r in rows.items()}
    ctx = EvalContext(last_seen=dict.fromkeys(series, now), sources=(data.SOURCE,))
    out = {}
    for rule in rules:
        res = alert_engine.evaluate([rule], series, {}, {}, ["ops"], now, "", ctx)
        instances = {i.fingerprint: i for i in res.changed}
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            res = alert_engine.evaluate([rule], series, instances, {}, ["ops"], now, "", ctx)
            best = min(best, time.perf_counter() - started)
        out[rule.name] = best / max(res.evaluated, 1) * 1e6
    return out


# -- (b) the daemon on a store ----------------------------------------------------------


def fill_store(engine: sa.Engine, rows, upto: int) -> None:
    """Rows of minutes 0..upto (inclusive) and a healthy source."""
    with engine.begin() as conn:
        for m in range(upto + 1):
            conn.execute(snapshots.insert(), [r[m] for r in rows.values()])
        conn.execute(
            queue_counters.insert(),
            [
                {
                    "source": data.SOURCE,
                    "queue": q,
                    "created_total": 0,
                    "resolved_total": 0,
                    "first_seen": at(0),
                    "last_seen": at(upto),
                }
                for q in rows
            ],
        )
        conn.execute(
            source_state.insert().values(
                source=data.SOURCE,
                watermark=at(upto),
                last_success_at=at(upto),
                last_attempt_at=at(upto),
                consecutive_failures=0,
            )
        )


def add_minute(engine: sa.Engine, rows, m: int) -> None:
    with engine.begin() as conn:
        conn.execute(snapshots.insert(), [r[m] for r in rows.values()])
        conn.execute(
            queue_counters.update()
            .where(queue_counters.c.source == data.SOURCE)
            .values(last_seen=at(m))
        )
        conn.execute(
            source_state.update()
            .where(source_state.c.source == data.SOURCE)
            .values(watermark=at(m), last_success_at=at(m), last_attempt_at=at(m))
        )


def daemon_run(
    url: str,
    rows,
    settings,
    ticks: int,
    cls: type[Daemon] = CheckedDaemon,
    profile: bool = False,
) -> tuple[dict[str, Any], list, str]:
    engine = open_store(url)
    migrate(engine)
    fill_store(engine, rows, HORIZON_MIN)
    clock = FakeClock(at(HORIZON_MIN))
    collector = ScriptedCollector(data.SOURCE, lambda w: None)  # never polled here
    daemon = cls(settings, clock=clock, collectors={data.SOURCE: collector}, engine=engine)
    seconds, cpu, evaluated, transitions, log, same_rows = [], [], [], [], [], []
    prof_text = ""
    # With profile, one extra tick at the end runs under cProfile and is not counted.
    for k in range(ticks + (1 if profile else 0)):
        if k:
            add_minute(engine, rows, HORIZON_MIN + k)
            clock.now = at(HORIZON_MIN + k)
        # Untimed: on PostgreSQL a daemon evaluates only while it holds the leader lease.
        assert daemon.hold_lease() == "leader"
        prof = cProfile.Profile() if k == ticks else None
        started, c0 = time.perf_counter(), time.process_time()
        if prof:
            prof.enable()
        result = daemon.evaluate()
        if prof:
            prof.disable()
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(35)
            prof_text = buf.getvalue()
            break
        seconds.append(time.perf_counter() - started)
        cpu.append(time.process_time() - c0)
        evaluated.append(result.evaluated)
        transitions.append(len(result.transitions))
        log.append(sorted((i.fingerprint, t.value) for i, t in result.transitions))
        if isinstance(daemon, CheckedDaemon):  # untimed: the cached rows vs a fresh read
            same_rows.append(daemon.cache.matches_store(engine))
    with engine.connect() as conn:
        stored = conn.execute(sa.select(sa.func.count()).select_from(snapshots)).scalar()
    last = HORIZON_MIN + ticks + (1 if profile else 0)
    load = load_variants(engine, rows, last) if cls is CheckedDaemon else None
    daemon.close()
    out = {
        "cold_tick_seconds": seconds[0],
        "cold_tick_transitions": transitions[0],
        **summary(seconds[1:], cpu[1:], evaluated[1:]),
        "snapshot_rows_in_store": stored,
    }
    if isinstance(daemon, CheckedDaemon):
        out["cache_same_rows_as_history_series"] = all(same_rows)
        out["cache_full_reloads"] = daemon.cache.full_reloads
    if load:
        out["series_load"] = load
    return out, log, prof_text


def load_variants(engine: sa.Engine, rows, last: int) -> dict[str, Any]:
    """Loading the horizon's rows only (wall and CPU seconds, best of 3), per variant."""
    end = at(last - 1)
    start = end - timedelta(minutes=HORIZON_MIN)
    variants = {
        "history.series (full read)": lambda c: history.series(c, start, end),
        "all columns, dict(zip)": lambda c: series_fast(c, start, end),
        "rules' columns, dict(zip)": lambda c: series_fast(c, start, end, NARROW),
    }
    out: dict[str, Any] = {}
    reference = None
    for name, fn in variants.items():
        best_wall, best_cpu = float("inf"), float("inf")
        for _ in range(3):
            with engine.connect() as conn:
                w, c = time.perf_counter(), time.process_time()
                got = fn(conn)
                best_wall = min(best_wall, time.perf_counter() - w)
                best_cpu = min(best_cpu, time.process_time() - c)
        n = sum(len(v) for v in got.values())
        if reference is None:
            reference = got
        same = (
            all(
                [{k: r[k] for k in got[key][0]} for r in reference[key]] == got[key]
                for key in reference
            )
            and reference.keys() == got.keys()
        )
        out[name] = {"wall_s": best_wall, "cpu_s": best_cpu, "rows": n, "same_rows": same}
    # one incremental step: the cache holds the horizon up to the previous minute
    cache = history.SeriesCache()
    with engine.connect() as conn:
        cache.series(conn, start - timedelta(minutes=1), end - timedelta(minutes=1))
        w, c = time.perf_counter(), time.process_time()
        got = cache.series(conn, start, end)
        wall, cpu = time.perf_counter() - w, time.process_time() - c
    same = dict(got) == reference
    out["row cache, one new minute"] = {
        "wall_s": wall,
        "cpu_s": cpu,
        "rows": sum(len(v) for v in got.values()),
        "same_rows": same,
    }
    return out


def pg_url() -> tuple[str, str] | None:
    admin = sa.create_engine(PG_ADMIN_URL)
    try:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.SQLAlchemyError as err:
        print(f"PostgreSQL skipped: {str(err).splitlines()[0]}")
        return None
    finally:
        admin.dispose()
    url = sa.engine.make_url(PG_ADMIN_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False), schema


def drop_pg(schema: str) -> None:
    admin = sa.create_engine(PG_ADMIN_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queues", type=int, default=1000)
    parser.add_argument("--ticks", type=int, default=21, help="pure-engine ticks")
    parser.add_argument("--daemon-ticks", type=int, default=8)
    parser.add_argument("--pg", action="store_true", help="also PostgreSQL (127.0.0.1:5432)")
    parser.add_argument("--profile", action="store_true", help="cProfile one daemon tick")
    parser.add_argument(
        "--out", default="alerting_evaluate.json", help="file in benchmarks/results"
    )
    args = parser.parse_args()

    t0 = time.perf_counter()
    minutes = HORIZON_MIN + max(args.ticks, args.daemon_ticks + 1) + 1
    rows = data.build(args.queues, minutes)
    settings = settings_for(rows)
    print(f"built {len(rows)} queues x {minutes} minutes in {time.perf_counter() - t0:.1f}s")
    report: dict[str, Any] = {
        "machine": {
            "cpus": __import__("os").cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },
        "queues": len(rows),
        "rules": [r.name for r in settings.rules],
        "thresholds": data.thresholds(rows),
        "rows_per_queue_in_horizon": HORIZON_MIN + 1,
    }

    report["engine"] = pure_engine(rows, settings, args.ticks)
    report["engine_per_rule_us"] = per_rule(rows, settings)

    stores: list[tuple[str, str, str | None]] = []
    tmp = tempfile.TemporaryDirectory()
    stores.append(("sqlite", f"sqlite:///{tmp.name}/%s.db", None))
    if args.pg:
        pg = pg_url()
        if pg:
            stores.append(("postgresql", pg[0], pg[1]))
    report["daemon"] = {}
    for name, url, schema in stores:
        try:
            variants = [
                ("current", CheckedDaemon),
                ("full_read", FullReadDaemon),
            ]
            logs = {}
            for label, cls in variants:
                if name == "postgresql" and label != "current":
                    # a fresh schema per variant: same starting point
                    drop_pg(schema)  # type: ignore[arg-type]
                    pg = pg_url()
                    assert pg
                    url, schema = pg
                target = url % label if name == "sqlite" else url
                prof = args.profile and label == "current"
                figures, logs[label], text = daemon_run(
                    target, rows, settings, args.daemon_ticks, cls, prof
                )
                report["daemon"][f"{name}/{label}"] = figures
                if text:
                    print(f"\n-- cProfile, one steady {label} Daemon.evaluate() tick on {name} --")
                    print(text)
            report["daemon"][f"{name}/cached_same_transitions_as_full_read"] = (
                logs["current"] == logs["full_read"]
            )
        finally:
            if schema:
                drop_pg(schema)
    tmp.cleanup()

    print_table(report)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / args.out
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"\nwrote {out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out}")


def print_table(report: dict[str, Any]) -> None:
    print(
        f"\n{report['queues']} queues x {len(report['rules'])} rules, "
        f"{report['rows_per_queue_in_horizon']} rows/queue in the 2 h horizon, "
        f"{report['machine']['cpus']} CPUs"
    )
    print("wall = elapsed; cpu = this process's CPU time (the machine is shared)")
    head = (
        f"{'what':46s} {'cold s':>7s} {'wall med':>8s} {'p95':>6s} {'cpu med':>7s} "
        f"{'p95':>6s} {'us/inst wall':>12s} {'cpu':>6s} {'inst':>6s}"
    )
    print(head)
    print("-" * len(head))
    rows = [
        ("engine.evaluate", report["engine"]),
    ]
    rows += [
        (f"Daemon.evaluate {k}", v) for k, v in report["daemon"].items() if isinstance(v, dict)
    ]
    for label, r in rows:
        print(
            f"{label:46s} {r['cold_tick_seconds']:7.3f} {r['seconds_median']:8.3f} "
            f"{r['seconds_p95']:6.3f} {r['cpu_seconds_median']:7.3f} {r['cpu_seconds_p95']:6.3f} "
            f"{r['us_per_instance_median']:12.1f} {r['cpu_us_per_instance_median']:6.1f} "
            f"{r['instances_per_tick']:6.0f}"
        )
    print(
        "engine: bisecting rules measure as a full scan does: "
        f"{report['engine']['same_measures_as_full_scan']}"
    )
    for k, v in report["daemon"].items():
        if not isinstance(v, dict):
            print(f"{k}: {v}")
        elif "cache_same_rows_as_history_series" in v:
            print(
                f"{k}: cached rows equal a fresh history.series read after every tick: "
                f"{v['cache_same_rows_as_history_series']} "
                f"(full reloads: {v['cache_full_reloads']})"
            )
    for k, v in report["daemon"].items():
        if isinstance(v, dict) and "series_load" in v:
            print(f"\nloading the horizon's rows, {k.split('/')[0]} (best of 3):")
            for name, f in v["series_load"].items():
                print(
                    f"  {name:30s} wall {f['wall_s']:6.3f} s  cpu {f['cpu_s']:6.3f} s  "
                    f"rows {f['rows']}  same rows: {f['same_rows']}"
                )
    print("\nengine microseconds per instance, by rule (each alone, best of 3):")
    for name, us in report["engine_per_rule_us"].items():
        print(f"  {name:22s} {us:7.1f}")


if __name__ == "__main__":
    main()
