"""``backfill`` at scale: 90 days of hourly rollups, 500 queues, 100k and 1M (10M) tickets.

    python -m benchmarks.collectors.backfill [--sizes 100000,1000000] [--engines postgresql,mariadb]
        [--hands events,grid] [--repeat 1]
    python -m benchmarks.collectors.backfill --explain 10000000   # PostgreSQL, one chunk

The ticket tables are those of ``benchmarks.collectors.sqldata`` (the real ServiceNow
incidents replicated in time, generated in the database by ``INSERT ... SELECT`` over
``generate_series`` / ``seq_*``, built once and cached in schema ``bench_sqlpoll``). The
queue is the real assignment group split in seven by ticket id
(``CONCAT(queue, '/', MOD(id, 7))``: about 500 queues, a computed queue as mappings
allow). For each engine and size it measures:

* **shipping**: ``monitor.backfill.backfill_source`` as the command runs it (the
  collector's set-based statement per 30-day chunk, the default, then the rollup rows
  written into a fresh SQLite history store), split into the time spent reading the
  ticket store and the total, wall and CPU time of this process (``time.process_time``);
  and the peak memory of a process that runs one backfill (``VmHWM``), across sizes;
* **hand-written**: the fastest statements we could write for the same rows, knowing
  this table (open means ``resolved_at IS NULL``, never resolved before created), one
  statement for all 90 days each: ``grid`` returns every queue x hour (hour series
  joined to per-hour counts, running sums by window function); ``events`` returns the
  queue-hours with an event with running sums, the client filling the hours between
  (timed with it).

Both results are compared row by row before any figure is printed; the figures also go
to ``benchmarks/results/collectors_backfill.json``. Figures are medians
of ``--repeat`` runs; the machine and its load average are printed with them.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from benchmarks.collectors import sqldata
from benchmarks.load import save
from collectors.base import TOTAL_QUEUE, HourFigures
from collectors.sql import SqlCollector, SqlSourceConfig
from collectors.sqlhourly import carry_on, hourly_statement
from collectors.sqlmap import SqlMapping
from collectors.sqlqueries import PollQueries
from monitor import backfill
from monitor.store.engine import migrate, open_store
from monitor.store.schema import rollups

URLS = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306/test",
}
END = sqldata.AS_OF.replace(tzinfo=UTC)
DAYS = 90
START = END - timedelta(days=DAYS)
HOURS = DAYS * 24
SPLIT = 7
"""Each real assignment group is split in this many queues (by ticket id)."""
CHUNK = timedelta(days=30)


def collector(engine_name: str, n: int) -> SqlCollector:
    mapping = SqlMapping(
        table=sqldata.qualified(n),
        id="id",
        queue=f"CONCAT(t.queue, '/', MOD(t.id, {SPLIT}))",
        status="status",
        created_at="created_at",
        resolved_at="resolved_at",
        open_statuses=("open",),
        timezone="UTC",
    )
    config = SqlSourceConfig(
        kind="sql",
        name=f"bench-{engine_name}",
        url=URLS[engine_name],
        timeout=timedelta(seconds=900),
        mapping=mapping,
    )
    return SqlCollector(config)


class Timed:
    """The collector, timing its reads (the ticket store's share of a backfill)."""

    def __init__(self, reader: SqlCollector) -> None:
        self.reader, self.seconds, self.cpu, self.rows = reader, 0.0, 0.0, 0

    def hourly(self, start: datetime, end: datetime) -> list[HourFigures]:
        began, cpu = time.perf_counter(), time.process_time()
        out = self.reader.hourly(start, end)
        self.seconds += time.perf_counter() - began
        self.cpu += time.process_time() - cpu
        self.rows += len(out)
        return out


def high_water_mb() -> float:
    """This process's peak resident memory (``VmHWM``; unlike ``ru_maxrss`` it does not
    carry the parent's peak across exec)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def shipping(
    engine_name: str, n: int, read_back: bool = True
) -> tuple[dict[str, float], set[tuple[Any, ...]]]:
    """One backfill as the command runs it; its timings and (``read_back``) its rows."""
    reader = Timed(collector(engine_name, n))
    with tempfile.TemporaryDirectory() as work:
        store = open_store(f"sqlite:///{work}/history.db")
        migrate(store)
        began, cpu = time.perf_counter(), time.process_time()
        result = backfill.backfill_source(store, reader, "bench", START, END, CHUNK)
        total, cpu = time.perf_counter() - began, time.process_time() - cpu
        peak = high_water_mb()
        with store.connect() as conn:
            rows = (
                set()
                if not read_back
                else {
                    (r.queue, r.hour.replace(tzinfo=None), r.open_last, r.created, r.resolved)
                    for r in conn.execute(
                        sa.select(
                            rollups.c.queue,
                            rollups.c.hour,
                            rollups.c.open_last,
                            rollups.c.created,
                            rollups.c.resolved,
                        ).where(rollups.c.queue != TOTAL_QUEUE)
                    )
                }
            )
        store.dispose()
    reader.reader.close()
    assert result.hours == HOURS, result
    timing = {
        "read_s": reader.seconds,
        "total_s": total,
        "read_cpu_s": reader.cpu,
        "cpu_s": cpu,
        "rows": result.rows,
        "rss_mb": peak,
    }
    return timing, rows


def _index(dialect: str) -> str:
    if dialect == "postgresql":
        return "CAST(FLOOR(date_part('epoch', {col} - :s) / 3600) AS INTEGER)"
    return "TIMESTAMPDIFF(HOUR, :s, {col})"


def hand_grid_sql(dialect: str, n: int) -> str:
    """Every row of the result from the database: the queues x hours grid joined to the
    per-hour counts, running sums by window function (the shape of the issue's text)."""
    t = sqldata.qualified(n)
    q = f"CONCAT(queue, '/', MOD(id, {SPLIT}))"
    if dialect == "postgresql":
        hours = f"SELECT generate_series(0, {HOURS - 1}) AS n"
    else:
        hours = f"SELECT seq AS n FROM seq_0_to_{HOURS - 1}"
    index = _index(dialect)
    created, resolved = index.format(col="created_at"), index.format(col="resolved_at")
    return f"""
WITH base AS (
  SELECT {q} AS queue,
         SUM(CASE WHEN created_at < :s THEN 1 ELSE 0 END) AS earlier,
         SUM(CASE WHEN created_at < :s THEN 1 ELSE 0 END)
       - SUM(CASE WHEN resolved_at < :s THEN 1 ELSE 0 END) AS open0
  FROM {t} WHERE created_at < :e GROUP BY 1),
made AS (
  SELECT {q} AS queue, {created} AS n, COUNT(*) AS k FROM {t}
  WHERE created_at >= :s AND created_at < :e GROUP BY 1, 2),
done AS (
  SELECT {q} AS queue, {resolved} AS n, COUNT(*) AS k FROM {t}
  WHERE resolved_at >= :s AND resolved_at < :e GROUP BY 1, 2),
grid AS (SELECT base.queue, base.open0, base.earlier, h.n FROM base CROSS JOIN ({hours}) h)
SELECT queue, n,
  open0 + SUM(c - r) OVER (PARTITION BY queue ORDER BY n ROWS UNBOUNDED PRECEDING) AS open_end,
  c, r,
  earlier + SUM(c) OVER (PARTITION BY queue ORDER BY n ROWS UNBOUNDED PRECEDING) AS seen
FROM (
  SELECT grid.queue, grid.n, grid.open0, grid.earlier,
         COALESCE(made.k, 0) AS c, COALESCE(done.k, 0) AS r
  FROM grid
  LEFT JOIN made ON made.queue = grid.queue AND made.n = grid.n
  LEFT JOIN done ON done.queue = grid.queue AND done.n = grid.n) x
"""


def hand_events_sql(dialect: str, n: int) -> str:
    """One statement for all 90 days returning only the queue-hours with an event (and
    each queue's backlog before the span) with running sums; the client fills the hours
    between events (:func:`collectors.sqlhourly.carry_on`, timed with it)."""
    t = sqldata.qualified(n)
    q = f"CONCAT(queue, '/', MOD(id, {SPLIT}))"
    index = _index(dialect)
    created, resolved = index.format(col="created_at"), index.format(col="resolved_at")
    window = "OVER (PARTITION BY queue ORDER BY n ROWS UNBOUNDED PRECEDING)"
    return f"""
SELECT queue, n, SUM(SUM(c) - SUM(d)) {window} AS open_end, SUM(c) AS c, SUM(d) AS r,
       SUM(SUM(c) + SUM(s)) {window} AS seen
FROM (
  SELECT {q} AS queue, -1 AS n,
         COUNT(*) - SUM(CASE WHEN resolved_at < :s THEN 1 ELSE 0 END) AS c,
         0 AS d, COUNT(*) AS s
  FROM {t} WHERE created_at < :s GROUP BY 1
  UNION ALL
  SELECT {q}, {created}, COUNT(*), 0, 0 FROM {t}
  WHERE created_at >= :s AND created_at < :e GROUP BY 1, 2
  UNION ALL
  SELECT {q}, {resolved}, 0, COUNT(*), 0 FROM {t}
  WHERE resolved_at >= :s AND resolved_at < :e GROUP BY 1, 2) ev
GROUP BY queue, n ORDER BY queue, n
"""


HANDS = {"events": hand_events_sql, "grid": hand_grid_sql}


def hand(engine_name: str, n: int, shape: str) -> tuple[float, set[tuple[Any, ...]]]:
    engine = sa.create_engine(URLS[engine_name])
    params = {"s": START.replace(tzinfo=None), "e": END.replace(tzinfo=None)}
    start = START.replace(tzinfo=None)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql("SET LOCAL jit = off")
            began = time.perf_counter()
            rows = conn.execute(sa.text(HANDS[shape](engine.dialect.name, n)), params).all()
            if shape == "events":
                filled, _ = carry_on(rows, start, HOURS, None)
                took = time.perf_counter() - began
                return took, {(f.queue, f.hour, f.open_end, f.created, f.resolved) for f in filled}
            took = time.perf_counter() - began
    finally:
        engine.dispose()
    out = {
        (
            r.queue,
            start + timedelta(hours=int(r.n)),
            int(r.open_end),
            int(r.c),
            int(r.r),
        )
        for r in rows
        if int(r.seen) > 0 or int(r.r) > 0
    }
    return took, out


def explain(n: int) -> None:
    """PostgreSQL: ``EXPLAIN ANALYZE`` of the shipping statement for the backfill's first
    30-day chunk (the backlog before it read) and for the next one (carried), JIT off as
    the collector runs it: the per-phase times of one chunk."""
    reader = collector("postgresql", n)
    engine = reader._connect()
    queries = PollQueries(reader.config.mapping, reader._bind)
    hours = int(CHUNK / timedelta(hours=1))
    for carried in (False, True):
        start = START + (CHUNK if carried else timedelta(0))
        statement = hourly_statement(queries, "postgresql", start, hours, carried)
        sql = str(statement.compile(engine, compile_kwargs={"literal_binds": True}))
        print(
            f"-- {'carried' if carried else 'first'} chunk from {start:%Y-%m-%d}, load"
            f" {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        with engine.connect() as conn:
            conn.exec_driver_sql("SET LOCAL jit = off")
            for (line,) in conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + sql):
                print(line, flush=True)
    reader.close()


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "load_avg": os.getloadavg(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def peak_rss_mb(engine_name: str, n: int) -> float:
    """The peak memory of a process that runs one backfill and nothing else."""
    child = subprocess.run(
        [sys.executable, "-m", "benchmarks.collectors.backfill", "--memory", engine_name, str(n)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(child.stdout.split()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--engines", default="postgresql,mariadb")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--hands",
        default="",
        help="hand-written shapes, comma-separated: events, grid (default: both on"
        " PostgreSQL; events on MariaDB, where the grid did not finish in 18 minutes at 1M)",
    )
    parser.add_argument(
        "--explain", type=int, metavar="N", help="PostgreSQL: EXPLAIN ANALYZE one chunk of N"
    )
    parser.add_argument("--memory", nargs=2, metavar=("ENGINE", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.explain:
        explain(args.explain)
        return 0
    if args.memory:
        timing, _ = shipping(args.memory[0], int(args.memory[1]), read_back=False)
        print(timing["rss_mb"])
        return 0
    print("machine:", machine(), flush=True)
    results: list[dict[str, Any]] = []
    for engine_name in args.engines.split(","):
        admin = sa.create_engine(URLS[engine_name])
        default = "events,grid" if engine_name == "postgresql" else "events"
        shapes = (args.hands or default).split(",")
        for n in (int(s) for s in args.sizes.split(",")):
            sqldata.ensure(admin, n)
            runs: list[dict[str, float]] = []
            hands: dict[str, list[float]] = {shape: [] for shape in shapes}
            for _ in range(args.repeat):
                load = os.getloadavg()[0]
                timing, ours = shipping(engine_name, n)
                timing["load"] = load
                runs.append(timing)
                print(f"  shipping: {timing}", flush=True)
                for shape in shapes:
                    took, theirs = hand(engine_name, n, shape)
                    if ours != theirs:
                        diff = sorted(ours ^ theirs)[:5]
                        raise SystemExit(f"{engine_name} {n} {shape}: results differ, e.g. {diff}")
                    hands[shape].append(took)
                    print(f"  hand-written ({shape}): {took:.1f} s, same rows", flush=True)
            median = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            hand_s = {shape: statistics.median(v) for shape, v in hands.items()}
            best = min(hand_s.values())
            queues = len({q for q, *_ in ours})
            rss = peak_rss_mb(engine_name, n)
            results.append(
                {
                    "engine": engine_name,
                    "n": n,
                    "queues": queues,
                    "hours": HOURS,
                    "repeat": args.repeat,
                    "total_s": median["total_s"],
                    "read_s": median["read_s"],
                    "cpu_s": median["cpu_s"],
                    "read_cpu_s": median["read_cpu_s"],
                    "hand_s": best,
                    "hands_s": hand_s,
                    "rows": runs[0]["rows"],
                    "rss_mb": rss,
                    "load": [r["load"] for r in runs],
                }
            )
            print(
                f"{engine_name:10s} {n:>10,} tickets {queues} queues {HOURS} h:"
                f" backfill {median['total_s']:6.1f} s (ticket store {median['read_s']:5.1f} s,"
                f" {runs[0]['rows']:,} rows written; CPU of this process"
                f" {median['cpu_s']:.1f} s, {median['read_cpu_s']:.1f} s of it in the read)"
                f" | hand-written SQL {best:5.1f} s {hand_s} |"
                f" ratio read/hand {median['read_s'] / best:4.2f} | peak RSS of a backfill"
                f" {rss:.0f} MB | load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
        admin.dispose()
    save({"machine": machine(), "results": results}, "collectors_backfill.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
