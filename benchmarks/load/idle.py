"""The daemon's memory at rest: a migrated SQLite store, no source, one ``/metrics`` scrape.

Run ``python -m benchmarks.load.idle`` (a few seconds). It builds the shipping
:class:`monitor.daemon.Daemon` and HTTP app in this fresh process, runs each job once
and serves one scrape, then prints the RSS (``psutil``, after ``gc.collect()``) and
writes ``benchmarks/results/load_idle.json``. The figure is what a process that has
imported the whole daemon (pandas, statsmodels, SQLAlchemy, Starlette...) holds before
it has any queue to watch.
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import warnings
from pathlib import Path
from typing import Any

import psutil

from benchmarks.load import save
from config.loader import load_settings
from monitor.daemon import Daemon
from monitor.http import build_app, daemon_registry

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient


def idle_rss() -> dict[str, Any]:
    """RSS in MiB of an idle daemon after one run of each job and one scrape."""
    folder = Path(tempfile.mkdtemp(prefix="backlog-idle-"))
    settings = load_settings(text=f'store: {{url: "sqlite:///{folder}/history.db"}}')
    daemon = Daemon(settings, collectors={})
    daemon.migrate()
    daemon.evaluate()
    daemon.deliver()
    daemon.forecast()
    daemon.maintain()
    answer = TestClient(build_app(daemon, daemon_registry(daemon))).get("/metrics")
    gc.collect()
    rss = psutil.Process().memory_info().rss / 2**20
    daemon.close()
    return {"rss_mib": rss, "scrape_status": answer.status_code}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="load_idle.json", help="file in benchmarks/results")
    args = parser.parse_args(argv)
    result = idle_rss()
    print(f"idle daemon (migrated SQLite store, no source): RSS {result['rss_mib']:.0f} MiB")
    save(result, args.out)
    return result


if __name__ == "__main__":
    main()
