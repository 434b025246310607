"""Failover time of two real replicas on one PostgreSQL store.

Run ``python -m benchmarks.replicas.failover`` from the project root (``--pg URL`` for
another server than 127.0.0.1:5432/test; ``--rounds``, ``--ttl``, ``--renew`` to vary).
The seconds of every round go to ``benchmarks/results/replicas_failover.json``.

Each round: a fresh schema; replica A (``backlog-monitor run``) leads, holds three
firing notifications its receiver answers 503 to; replica B follows. After a random
wait (to sample every phase of the renewal cycle) A is stopped, the receiver turns to
204, and the benchmark polls B's ``/readyz`` and the receiver every 20 ms:

* ``leader``: from the stop to B's ``/readyz`` saying ``"role": "leader"``;
* ``delivered``: from the stop to the first notification B's delivery gets a 2xx for.

``kill`` rounds stop A with SIGKILL (the lease must expire: expected between
``ttl - renew`` and ``ttl + renew``); ``term`` rounds with SIGTERM (A releases the lease
at shutdown: B takes it at its next renewal, within ``renew``). The processes, the store,
the lease and the delivery are the shipping code paths; only the timing is outside.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import signal
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from benchmarks.load import save
from config.durations import parse_duration
from tests.fakes import RecordingReceiver
from tests.monitor.test_crash_recovery import Daemon
from tests.monitor.test_replica_processes import RULES, Store, readyz, write_config

POLL_S = 0.02


def one_round(
    admin: str, work: Path, stop: signal.Signals, ttl: str, renew: str
) -> dict[str, float]:
    """One failover; returns seconds from A's stop to B leading and to B's first delivery."""
    schema = f"failover_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(admin)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = sa.engine.make_url(admin).update_query_dict({"options": f"-csearch_path={schema}"})
    store_url = url.render_as_string(hide_password=False)
    receiver = RecordingReceiver(status=503)
    store = Store(store_url)
    procs: list[Daemon] = []
    try:
        config_a, port_a = write_config(work, "a", store_url, receiver.url, ttl, renew)
        config_b, port_b = write_config(work, "b", store_url, receiver.url, ttl, renew)
        a = Daemon(config_a, work / "a.log")
        procs.append(a)
        a.wait_for("a to lead", lambda: readyz(port_a).get("role") == "leader")
        a.wait_for("pending notifications", lambda: len(store.outbox()) == len(RULES))
        b = Daemon(config_b, work / "b.log")
        procs.append(b)
        b.wait_for("b to follow", lambda: readyz(port_b).get("ready") is True)
        time.sleep(random.uniform(0, parse_duration(renew).total_seconds()))
        started = time.monotonic()
        a.proc.send_signal(stop)
        receiver.status = 204
        figures: dict[str, float] = {}
        while len(figures) < 2 and time.monotonic() - started < 300:
            now = time.monotonic() - started
            if "leader" not in figures and readyz(port_b).get("role") == "leader":
                figures["leader"] = now
            if "delivered" not in figures and receiver.received:
                figures["delivered"] = now
            time.sleep(POLL_S)
        if len(figures) < 2:
            raise RuntimeError(f"no failover within 300 s: {figures}\n{b.output()}")
        return figures
    finally:
        for proc in procs:
            proc.stop()
        receiver.close()
        store.engine.dispose()
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def summary(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):6.2f} s   min {min(values):6.2f} s   "
        f"max {max(values):6.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pg",
        default=os.environ.get(
            "BACKLOG_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds per stop signal")
    parser.add_argument("--ttl", default="15s", help="lease.ttl (default: the shipped 15s)")
    parser.add_argument("--renew", default="5s", help="lease.renew_interval (shipped: 5s)")
    args = parser.parse_args()
    random.seed(21)
    print(f"lease ttl {args.ttl}, renew_interval {args.renew}; {args.rounds} rounds per stop")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cpus, python "
        f"{platform.python_version()}, load before {os.getloadavg()[0]:.2f}"
    )
    stops: dict[str, dict[str, list[float]]] = {}
    for stop in (signal.SIGKILL, signal.SIGTERM):
        results: list[dict[str, float]] = []
        for n in range(args.rounds):
            with tempfile.TemporaryDirectory() as work:
                results.append(one_round(args.pg, Path(work), stop, args.ttl, args.renew))
            print(
                f"  {stop.name} round {n + 1}: leader after {results[-1]['leader']:.2f} s, "
                f"first delivery after {results[-1]['delivered']:.2f} s",
                flush=True,
            )
        print(f"{stop.name:8s} leader    {summary([r['leader'] for r in results])}")
        print(f"{stop.name:8s} delivered {summary([r['delivered'] for r in results])}")
        stops[stop.name] = {key: [r[key] for r in results] for key in ("leader", "delivered")}
    print(f"load after {os.getloadavg()[0]:.2f} (1-minute average)")
    ttl, renew = (parse_duration(d).total_seconds() for d in (args.ttl, args.renew))
    report = {"ttl_s": ttl, "renew_s": renew, "rounds": args.rounds, "stops": stops}
    save(report, "replicas_failover.json")


if __name__ == "__main__":
    main()
