"""One full SQL poll at 1M and 10M tickets: collector vs the best hand-written SQL (issue #3).

    python -m benchmarks.collectors.sql_poll [--sizes 1000000,10000000]
        [--engines postgresql,mariadb] [--repeat 5]

For each engine and size it builds (or reuses) a ticket table derived from the real
ServiceNow incidents (``sqldata``), then, on the same connection pool and driver:

* times one full ``SqlCollector.collect(window)`` (a 1-hour window ending at the as-of
  instant) and the hand-written statement (``sqlhand``): one cold run of each discarded,
  then ``--repeat`` runs of each, interleaved; median and minimum wall time;
* checks that both give identical figures;
* captures the collector's statements (``before_cursor_execute``) and runs each again
  under ``EXPLAIN (ANALYZE, BUFFERS)`` (PostgreSQL) or ``ANALYZE FORMAT=JSON`` (MariaDB):
  plans and rows read;
* measures the polling process's memory in a fresh child process per table:
  ``tracemalloc`` peak of a poll and RSS growth over the polls.

PostgreSQL runs twice: with the documented indexes, then with a partial index on the open
tickets added. Results go to ``benchmarks/results/sql_poll.json``; the summary is
``docs/benchmarks/sql-poll.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from benchmarks.collectors import sqldata, sqlhand
from benchmarks.collectors.sql_poll_fix import LOOKUP_DIALECTS, OffsetQuantileCollector
from collectors.base import Snapshot, Window
from collectors.sql import SqlCollector, SqlSourceConfig
from collectors.sqlmap import SqlMapping

URLS = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306/test",
}
RESULTS = Path(__file__).resolve().parents[1] / "results" / "sql_poll.json"
AS_OF = sqldata.AS_OF.replace(tzinfo=UTC)
WINDOW = Window(AS_OF - timedelta(hours=1), AS_OF)
MEMORY_POLLS = 5


# -- the two sides ---------------------------------------------------------------------------


def make_collector(engine_name: str, n: int, url: str | None = None) -> SqlCollector:
    mapping = SqlMapping(
        table=sqldata.qualified(n),
        id="id",
        queue="queue",
        status="status",
        priority="priority",
        created_at="created_at",
        resolved_at="resolved_at",
        resolution_due_at="resolution_due_at",
        open_statuses=("open",),
        timezone="UTC",
    )
    config = SqlSourceConfig(
        kind="sql",
        name=f"bench-{engine_name}",
        url=url or URLS[engine_name],
        timeout=timedelta(seconds=300),
        mapping=mapping,
    )
    return SqlCollector(config)


def hand_poll(engine: sa.Engine, n: int, shape: str = "union") -> list[Any]:
    rows: list[Any] = []
    params = sqlhand.parameters(WINDOW)
    with engine.connect() as conn:
        for statement in sqlhand.statements(engine.dialect.name, sqldata.qualified(n), shape):
            rows += conn.execute(statement, params).all()
    return rows


def snapshot_figures(snapshot: Snapshot) -> dict[str, dict[str, Any]]:
    out = {}
    for q in snapshot.queues:
        out[q.queue] = {
            "open": {f"{s}/{p}": n for (s, p), n in q.open_by_status_priority.items()},
            "created": q.created,
            "resolved": q.resolved,
            "oldest_age_s": q.oldest_age_s,
            "older_than": dict(q.older_than or {}),
            "age_quantiles": dict(q.age_quantiles) if q.age_quantiles is not None else None,
            "sla_breached_open": dict(q.sla_breached_open or {}),
            "sla_at_risk": dict(q.sla_at_risk or {}),
            "sla_breached_window": dict(q.sla_breached_window or {}),
            "avg_resolution_s": q.avg_resolution_s,
        }
    return out


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Where two per-queue figure sets differ (floats to 1e-9 relative)."""
    out = []
    for queue in sorted(set(a) | set(b)):
        fa, fb = a.get(queue), b.get(queue)
        if fa is None or fb is None:
            out.append(f"{queue}: only in {'collector' if fb is None else 'hand-written'}")
            continue
        for key in fa:
            x, y = fa[key], fb[key]
            if isinstance(x, float) and isinstance(y, float):
                if abs(x - y) > 1e-9 * max(1.0, abs(x)):
                    out.append(f"{queue}.{key}: {x} != {y}")
            elif x != y:
                out.append(f"{queue}.{key}: {x} != {y}")
    return out


def totals(figures: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "queues": len(figures),
        "open": sum(sum(f["open"].values()) for f in figures.values()),
        "created": sum(f["created"] or 0 for f in figures.values()),
        "resolved": sum(f["resolved"] or 0 for f in figures.values()),
        "older_than_7d": sum(f["older_than"].get("7d", 0) for f in figures.values()),
        "sla_breached_open": sum(
            f["sla_breached_open"].get("resolution", 0) for f in figures.values()
        ),
        "sla_breached_window": sum(
            f["sla_breached_window"].get("resolution", 0) for f in figures.values()
        ),
    }


# -- plans and rows read ---------------------------------------------------------------------


def capture(engine: sa.Engine, poll: Any) -> list[tuple[str, Any]]:
    """The statements one call of ``poll()`` sends, with their bound parameters."""
    statements: list[tuple[str, Any]] = []

    def record(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        poll()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return statements


def explain(engine: sa.Engine, statement: str, parameters: Any) -> dict[str, Any]:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            doc = conn.exec_driver_sql(
                "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, parameters
            ).scalar_one()
            doc = doc if isinstance(doc, list) else json.loads(doc)
            text = "\n".join(
                r[0]
                for r in conn.exec_driver_sql(
                    "EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters
                ).all()
            )
            root = doc[0]["Plan"]
            return {
                "rows_read": _pg_rows_read(root),
                "buffers": root.get("Shared Hit Blocks", 0) + root.get("Shared Read Blocks", 0),
                "execution_ms": doc[0].get("Execution Time"),
                "plan": text,
                "key_lines": _pg_key_lines(text),
            }
        before = _handler_reads(conn)
        conn.exec_driver_sql(statement, parameters).all()
        after = _handler_reads(conn)
        handler = after - before - (_handler_reads(conn) - after)  # minus SHOW STATUS's own
        doc = json.loads(
            conn.exec_driver_sql("ANALYZE FORMAT=JSON " + statement, parameters).scalar_one()
        )
        tables = list(_my_tables(doc))
        return {
            "rows_read": int(
                sum(t["r_loops"] * t["r_rows"] for t in tables if not t["table"].startswith("<"))
            ),
            "handler_reads": handler,
            "execution_ms": doc.get("query_block", {}).get("r_total_time_ms"),
            "plan": json.dumps(doc, indent=1),
            "key_lines": [
                f"{t['table']}: {t['access_type']} key={t['key']} r_loops={t['r_loops']} "
                f"r_rows={t['r_rows']:g} r_filtered={t['r_filtered']}"
                for t in tables
            ],
        }


_PG_BASE_SCANS = ("Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan")


def _pg_rows_read(node: dict[str, Any]) -> int:
    """Rows the scans of base tables produced or discarded (per loop, times loops)."""
    total = 0
    if node["Node Type"] in _PG_BASE_SCANS:
        per_loop = (
            node.get("Actual Rows", 0)
            + node.get("Rows Removed by Filter", 0)
            + node.get("Rows Removed by Index Recheck", 0)
        )
        total += int(per_loop * node.get("Actual Loops", 1))
    for child in node.get("Plans", []):
        total += _pg_rows_read(child)
    return total


def _pg_key_lines(text: str) -> list[str]:
    keys = (
        "Scan",
        "Aggregate",
        "Sort",
        "Heap Fetches",
        "Execution Time",
        "Buffers:",
        "Filter",
        "Index Cond",
        "Recheck",
        "Workers",
        "Gather",
        "Append",
        "WindowAgg",
    )
    lines = text.splitlines()
    return [line.rstrip() for line in lines if any(k in line for k in keys)][:40]


def _my_tables(node: Any) -> Any:
    if isinstance(node, dict):
        table = node.get("table")
        if isinstance(table, dict) and "table_name" in table:
            yield {
                "table": table["table_name"],
                "access_type": table.get("access_type"),
                "key": table.get("key"),
                "r_loops": table.get("r_loops", 0),
                "r_rows": table.get("r_rows", 0) or 0,
                "r_filtered": table.get("r_filtered"),
            }
        for value in node.values():
            yield from _my_tables(value)
    elif isinstance(node, list):
        for value in node:
            yield from _my_tables(value)


def _handler_reads(conn: sa.Connection) -> int:
    rows = conn.exec_driver_sql("SHOW SESSION STATUS LIKE 'Handler_read%%'").all()
    return sum(int(v) for _, v in rows)


# -- memory (child process) ----------------------------------------------------------------


def _rss_kb(field: str = "VmRSS") -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def memory_child(engine_name: str, n: int) -> dict[str, Any]:
    """Run in a fresh process: RSS growth over a few polls and the tracemalloc peak of one."""
    collector = make_collector(engine_name, n)
    collector.collect(WINDOW)  # imports, connection, statement caches
    rss_before = _rss_kb()
    for _ in range(MEMORY_POLLS):
        collector.collect(WINDOW)
    rss_after = _rss_kb()
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    collector.collect(WINDOW)
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    engine = collector._connect()
    tracemalloc.start()
    hand_poll(engine, n)
    hand_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    collector.close()
    return {
        "tracemalloc_peak_kib": round((peak - base) / 1024, 1),
        "tracemalloc_retained_kib": round((current - base) / 1024, 1),
        "hand_tracemalloc_peak_kib": round(hand_peak / 1024, 1),
        "rss_after_first_poll_mib": round(rss_before / 1024, 1),
        "rss_growth_over_polls_kib": rss_after - rss_before,
        "peak_rss_mib": round(_rss_kb("VmHWM") / 1024, 1),
        "polls": MEMORY_POLLS,
    }


def measure_memory(engine_name: str, n: int) -> dict[str, Any]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.collectors.sql_poll",
            "--memory-child",
            f"{engine_name}:{n}",
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# -- one case ------------------------------------------------------------------------------


def run_case(engine_name: str, n: int, variant: str, repeat: int, plans: bool) -> dict[str, Any]:
    collector = make_collector(engine_name, n)
    engine = collector._connect()
    shapes = sqlhand.shapes(engine.dialect.name)
    fixed = (
        OffsetQuantileCollector(collector.config, engine)
        if engine.dialect.name in LOOKUP_DIALECTS
        else None
    )
    # cold run of each, discarded
    snapshot = collector.collect(WINDOW)
    fixed_snapshot = fixed.collect(WINDOW) if fixed is not None else None
    hand_rows = {shape: hand_poll(engine, n, shape) for shape in shapes}
    timings: dict[str, list[float]] = {
        "collector": [],
        "collector_fix": [],
        **{s: [] for s in shapes},
    }
    for _ in range(repeat):  # interleaved, so load on the shared machine hits all alike
        started = time.perf_counter()
        snapshot = collector.collect(WINDOW)
        timings["collector"].append((time.perf_counter() - started) * 1000)
        if fixed is not None:
            started = time.perf_counter()
            fixed_snapshot = fixed.collect(WINDOW)
            timings["collector_fix"].append((time.perf_counter() - started) * 1000)
        for shape in shapes:
            started = time.perf_counter()
            hand_rows[shape] = hand_poll(engine, n, shape)
            timings[shape].append((time.perf_counter() - started) * 1000)
    mine = snapshot_figures(snapshot)
    diff = []
    for shape in shapes:
        diff += [
            f"[{shape}] {d}" for d in differences(mine, sqlhand.figures(hand_rows[shape], AS_OF))
        ]
    if fixed_snapshot is not None:
        diff += [f"[fix] {d}" for d in differences(mine, snapshot_figures(fixed_snapshot))]
    best = min(shapes, key=lambda s: statistics.median(timings[s]))
    result: dict[str, Any] = {
        "engine": engine_name,
        "n": n,
        "variant": variant,
        "repeat": repeat,
        "collector_ms": _stats(timings["collector"]),
        "hand_shapes_ms": {s: _stats(timings[s]) for s in shapes},
        "hand_best_shape": best,
        "hand_ms": _stats(timings[best]),
        "ratio": statistics.median(timings["collector"]) / statistics.median(timings[best]),
        "paired_ratio": statistics.median(
            c / h for c, h in zip(timings["collector"], timings[best], strict=True)
        ),
        "identical": not diff,
        **(
            {
                "collector_fix_ms": _stats(timings["collector_fix"]),
                "fix_ratio": statistics.median(timings["collector_fix"])
                / statistics.median(timings[best]),
                "fix_paired_ratio": statistics.median(
                    c / h for c, h in zip(timings["collector_fix"], timings[best], strict=True)
                ),
            }
            if fixed is not None
            else {}
        ),
        "differences": diff[:20],
        "totals": totals(mine),
    }
    if plans:
        statements = capture(engine, lambda: collector.collect(WINDOW))
        result["statements"] = []
        for statement, parameters in statements:
            info = explain(engine, statement, parameters)
            info["sql"] = statement
            result["statements"].append(info)
        result["hand_statements"] = []
        for statement, parameters in capture(engine, lambda: hand_poll(engine, n, best)):
            info = explain(engine, statement, parameters)
            info["sql"] = statement
            result["hand_statements"].append(info)
        result["collector_rows_read"] = sum(s["rows_read"] for s in result["statements"])
        result["hand_rows_read"] = sum(s["rows_read"] for s in result["hand_statements"])
    collector.close()
    return result


def _stats(values: list[float]) -> dict[str, Any]:
    return {
        "median": round(statistics.median(values), 2),
        "min": round(min(values), 2),
        "max": round(max(values), 2),
        "runs": [round(v, 2) for v in values],
    }


def machine() -> dict[str, Any]:
    def version(url: str) -> str:
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                return str(conn.exec_driver_sql("SELECT version()").scalar_one())
        finally:
            engine.dispose()

    return {
        "cpus": os.cpu_count(),
        "note": "shared machine, 2 cores; both database servers on the same host",
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "sqlalchemy": sa.__version__,
        "postgresql": version(URLS["postgresql"]).split(" on ")[0],
        "mariadb": version(URLS["mariadb"]),
        "load_avg_start": os.getloadavg(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def print_case(r: dict[str, Any]) -> None:
    c, h = r["collector_ms"], r["hand_ms"]
    print(
        f"  {r['engine']:10s} {r['n']:>10,} {r['variant']:9s} collector {c['median']:8.1f} ms"
        f" (min {c['min']:.1f})  hand[{r['hand_best_shape']}] {h['median']:8.1f} ms"
        f" (min {h['min']:.1f})"
        f"  ratio {r['ratio']:.2f} (paired {r['paired_ratio']:.2f})"
        f"  identical={r['identical']}  open={r['totals']['open']:,}",
        flush=True,
    )
    if "collector_fix_ms" in r:
        f = r["collector_fix_ms"]
        print(
            f"  {'':10s} {'':>10s} {'':9s} collector with the proposed quantile fix"
            f" {f['median']:8.1f} ms (min {f['min']:.1f})  ratio {r['fix_ratio']:.2f}"
            f" (paired {r['fix_paired_ratio']:.2f})"
        )
    for d in r["differences"][:5]:
        print("    DIFF", d)


def print_plans(r: dict[str, Any]) -> None:
    print(f"\n=== plans: {r['engine']} {r['n']:,} {r['variant']} ===")
    for i, s in enumerate(r.get("statements", []), 1):
        print(
            f"--- collector statement {i}: {s['execution_ms']} ms in the server,"
            f" rows read {s['rows_read']:,}"
            + (f", buffers {s['buffers']:,}" if "buffers" in s else "")
            + (f", handler reads {s['handler_reads']:,}" if "handler_reads" in s else "")
        )
        print(" ".join(s["sql"].split())[:400])
        print(s["plan"] if "buffers" in s else "\n".join(s["key_lines"]))
    for i, s in enumerate(r.get("hand_statements", []), 1):
        print(
            f"--- hand-written ({r['hand_best_shape']}) statement {i}: {s['execution_ms']} ms in"
            f" the server, rows read {s['rows_read']:,}"
            + (f", buffers {s['buffers']:,}" if "buffers" in s else "")
            + (f", handler reads {s['handler_reads']:,}" if "handler_reads" in s else "")
        )
        print(s["plan"] if "buffers" in s else "\n".join(s["key_lines"]))


def print_table(results: list[dict[str, Any]]) -> None:
    print(
        "\n| engine | tickets | indexes | open | collector ms (median) | hand-written ms | ratio"
        " (paired) |"
        " rows read collector / hand | tracemalloc peak KiB | RSS growth KiB | identical |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        m = r.get("memory", {})
        print(
            f"| {r['engine']} | {r['n']:,} | {r['variant']} | {r['totals']['open']:,} |"
            f" {r['collector_ms']['median']:.1f} | {r['hand_ms']['median']:.1f} |"
            f" {r['ratio']:.2f} ({r['paired_ratio']:.2f}) |"
            f" {r.get('collector_rows_read', 0):,} / {r.get('hand_rows_read', 0):,} |"
            f" {m.get('tracemalloc_peak_kib', '-')} | {m.get('rss_growth_over_polls_kib', '-')} |"
            f" {r['identical']} |"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--engines", default="postgresql,mariadb")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--variants",
        default="documented,partial,covering",
        help="index variants: documented, partial (PostgreSQL only: a partial"
        " index on open tickets added), no-due-index (resolution_due_at"
        " index dropped), covering (a proposed covering index for the open-ticket aggregate)",
    )
    parser.add_argument("--no-plans", action="store_true")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        engine_name, n = args.memory_child.split(":")
        print(json.dumps(memory_child(engine_name, int(n))))
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    engines = args.engines.split(",")
    info = machine()
    print(
        f"machine: {info['cpus']} cpus (shared), {info['postgresql']}, MariaDB {info['mariadb']},"
        f" load {info['load_avg_start']}"
    )
    results = []
    for engine_name in engines:
        admin = sa.create_engine(URLS[engine_name])
        for n in sizes:
            plan = sqldata.ensure(admin, n)
            variants = [
                v for v in args.variants.split(",") if engine_name == "postgresql" or v != "partial"
            ]
            memory = None if args.no_memory else measure_memory(engine_name, n)
            for variant in variants:
                if engine_name == "postgresql":
                    sqldata.partial_index(admin, n, present=variant == "partial")
                sqldata.due_index(admin, n, present=variant != "no-due-index")
                sqldata.covering_index(admin, n, present=variant == "covering")
                r = run_case(engine_name, n, variant, args.repeat, plans=not args.no_plans)
                r["expected_open"] = plan.open
                if memory is not None:
                    r["memory"] = memory
                results.append(r)
                print_case(r)
                if not args.no_plans:
                    print_plans(r)
            if engine_name == "postgresql":
                sqldata.partial_index(admin, n, present=False)
            sqldata.due_index(admin, n, present=True)
            sqldata.covering_index(admin, n, present=False)
        admin.dispose()
    print_table(results)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {"machine": info, "as_of": AS_OF.isoformat(), "window_h": 1, "results": results},
            indent=1,
            default=str,
        )
    )
    print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
