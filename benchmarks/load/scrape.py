"""``GET /metrics`` at about 30,000 series: a scrape between changes, and one after a change.

Run ``python -m benchmarks.load.scrape`` from the project root (a few minutes: most of it
fills the store). The store is the soak's (:mod:`benchmarks.load.soak`): real hourly
series of ServiceNow assignment groups, three weeks of rollups and warmed forecast
states, here for 1,700 queues (about 32,000 series; the soak's 1,000 queues give
about 18,000). The shipping daemon then polls them 12 times, runs the forecast job and
evaluates its rules once, so every family of the catalogue that this configuration
fills has its series.

Figures (wall and CPU seconds of this process, the ASGI app's thread included, through
:func:`monitor.http.build_app` and Starlette's test client):

* a scrape with nothing written since the previous one (served from the exposition
  cache, :mod:`monitor.exposition`), median of ``--repeat``;
* the same with ``Accept-Encoding: gzip``;
* a scrape right after a write (the daemon's next poll), rendering on demand (the cache
  without its background renderer): the store read and the render, median of
  ``--renders``;
* the same with the background renderer started, as the daemon runs it
  (``ExpositionCache.start``): the scrape right after the poll is served the latest
  complete page; wall and CPU of the request (the process's CPU, so it includes the
  renderer's thread working at the same time: an upper bound), the thread CPU of the
  handler's ``ExpositionCache.get`` called on its own, how many renders ran on a
  request thread (0 expected), and how long after the poll the page was current (the
  debounce plus the render), median of ``--renders``;
* whether the bytes served equal :func:`prometheus_client.generate_latest` of the same
  registry (checked after the last change).

Goal: about 30,000 series in under 250 ms (issue 21).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from prometheus_client import generate_latest

from benchmarks.load import save
from benchmarks.load.soak import CONFIG, HISTORY, SOURCE, T0, Feed, prepare
from benchmarks.suite import machine
from config.loader import load_settings
from monitor.clock import FakeClock
from monitor.daemon import Daemon
from monitor.exposition import ExpositionCache
from monitor.http import build_app, daemon_registry
from monitor.store.engine import migrate, open_store
from tests.fakes import ScriptedCollector

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient

GOAL_MS, GOAL_SERIES = 250.0, 30_000


def timed(call: Any) -> tuple[float, float, Any]:
    """Wall and CPU seconds of ``call()``, and its result."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = call()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def median_ms(values: list[float]) -> float:
    return 1000 * statistics.median(values)


def run(queues: int, distinct: int, workers: int, repeat: int, renders: int) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="backlog-scrape-"))
    store = open_store(f"sqlite:///{folder}/history.db")
    migrate(store)
    names, series = prepare(store, queues, renders + 2, distinct, workers)
    opens = np.concatenate([s.open[HISTORY : HISTORY + 1] for s in series])
    text = CONFIG.format(
        store=f"{folder}/history.db",
        source=SOURCE,
        high=float(np.percentile(opens, 50)),
        ahead=float(np.percentile(opens, 60)),
        receiver="http://127.0.0.1:9/",
    )
    clock = FakeClock(T0 + timedelta(hours=HISTORY))
    collector = ScriptedCollector(SOURCE, Feed(names, series, clock.now))
    daemon = Daemon(
        load_settings(text=text), clock=clock, collectors={SOURCE: collector}, engine=store
    )
    daemon.migrate()
    for _ in range(12):
        clock.advance(timedelta(minutes=1))
        daemon.poll(SOURCE)
    daemon.forecast()
    daemon.evaluate()
    registry = daemon_registry(daemon)
    app = build_app(daemon, registry)
    client = TestClient(app)
    after_change: list[tuple[float, float]] = []
    for _ in range(renders):
        clock.advance(timedelta(minutes=1))
        daemon.poll(SOURCE)
        wall, cpu, _answer = timed(lambda: client.get("/metrics"))
        after_change.append((wall, cpu))
    exposition: ExpositionCache = app.state.exposition
    on_demand = exposition.renders_on_request
    exposition.start()
    eager: list[tuple[float, float, float, float]] = []
    for _ in range(renders):
        clock.advance(timedelta(minutes=1))
        daemon.poll(SOURCE)
        polled_at = time.perf_counter()
        wall, cpu, _answer = timed(lambda: client.get("/metrics"))
        thread_cpu = time.thread_time()
        exposition.get()
        thread_cpu = time.thread_time() - thread_cpu
        while not exposition.current():
            time.sleep(0.01)
        eager.append((wall, cpu, thread_cpu, time.perf_counter() - polled_at))
    on_request = exposition.renders_on_request - on_demand
    cached = [timed(lambda: client.get("/metrics"))[:2] for _ in range(repeat)]
    zipped_headers = {"Accept-Encoding": "gzip"}
    client.get("/metrics", headers=zipped_headers)  # the first one compresses
    zipped = [timed(lambda: client.get("/metrics", headers=zipped_headers))[:2]]
    zipped += [timed(lambda: client.get("/metrics", headers=zipped_headers))[:2]]
    body = client.get("/metrics").content
    identical = body == generate_latest(registry)
    series_count = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
    exposition.stop()
    daemon.close()
    store.dispose()
    return {
        "queues": queues,
        "series": series_count,
        "bytes": len(body),
        "identical_to_generate_latest": identical,
        "cached_ms_wall": median_ms([w for w, _ in cached]),
        "cached_ms_cpu": median_ms([c for _, c in cached]),
        "cached_repeat": repeat,
        "gzip_cached_ms_wall": median_ms([w for w, _ in zipped]),
        "after_change_ms_wall": median_ms([w for w, _ in after_change]),
        "after_change_ms_cpu": median_ms([c for _, c in after_change]),
        "after_change_renders": renders,
        "eager_after_change_ms_wall": median_ms([e[0] for e in eager]),
        "eager_after_change_ms_cpu": median_ms([e[1] for e in eager]),
        "eager_handler_ms_thread_cpu": median_ms([e[2] for e in eager]),
        "eager_page_current_after_ms_wall": median_ms([e[3] for e in eager]),
        "eager_page_current_after_ms_wall_max": 1000 * max(e[3] for e in eager),
        "eager_renders_on_request": on_request,
        "load_average": os.getloadavg(),
        "machine": machine(),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queues", type=int, default=1700)
    parser.add_argument("--distinct", type=int, default=10, help="real windows warmed up")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--renders", type=int, default=3)
    parser.add_argument("--out", default="load_scrape.json", help="file in benchmarks/results")
    args = parser.parse_args(argv)
    r = run(args.queues, args.distinct, args.workers, args.repeat, args.renders)
    ok = r["identical_to_generate_latest"]
    print(f"{r['series']:,} series, {r['bytes']:,} bytes, identical: {ok}")
    cached, cpu = r["cached_ms_wall"], r["cached_ms_cpu"]
    print(f"  scrape, nothing changed: {cached:.1f} ms wall, {cpu:.1f} ms CPU")
    print(f"  scrape, gzip, cached:    {r['gzip_cached_ms_wall']:.1f} ms wall")
    after, after_cpu = r["after_change_ms_wall"], r["after_change_ms_cpu"]
    print(f"  scrape after a poll:     {after:.0f} ms wall, {after_cpu:.0f} ms CPU")
    print("  ... with the background renderer (as the daemon runs):")
    print(
        f"  scrape after a poll:     {r['eager_after_change_ms_wall']:.1f} ms wall, "
        f"{r['eager_after_change_ms_cpu']:.1f} ms CPU (process, renderer included), "
        f"{r['eager_handler_ms_thread_cpu']:.2f} ms CPU in the handler's get; "
        f"renders on a request: {r['eager_renders_on_request']}"
    )
    print(
        f"  page current after poll: {r['eager_page_current_after_ms_wall']:.0f} ms wall "
        f"(max {r['eager_page_current_after_ms_wall_max']:.0f})"
    )
    print("load average: {:.2f} {:.2f} {:.2f}".format(*r["load_average"]))
    print(f"machine: {r['machine']}")
    save(r, args.out)
    return r


if __name__ == "__main__":
    main()
