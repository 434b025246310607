"""The real ``backlog-monitor run`` process: SIGKILL loses nothing, SIGTERM stops cleanly."""

from __future__ import annotations

import signal
import socket
import sqlite3
import subprocess
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest
import sqlalchemy as sa
from standardwebhooks.webhooks import Webhook

from monitor.demo.ticketstore import load_incidents
from monitor.demo.ticketstore import metadata as ticket_metadata
from monitor.demo.ticketstore import tickets as ticket_table
from tests.fakes import RecordingReceiver
from tests.monitor.test_daemon import SECRET
from tests.processes import PATIENCE, backlog_monitor, environment, eventually

pytestmark = pytest.mark.slow

QUEUE = "Group 70"
OPEN = 600


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def make_ticket_store(path: Path) -> None:
    """A SQLite help desk holding 600 real incidents of one group, all open."""
    rows = [i for i in load_incidents() if i.group == QUEUE][:OPEN]
    engine = sa.create_engine(f"sqlite:///{path}")
    ticket_metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            ticket_table.insert(),
            [
                {
                    "number": i.number,
                    "assignment_group": i.group,
                    "organisation": "all",
                    "priority": i.priority,
                    "state": "open",
                    "opened_at": i.opened_at,
                    "resolved_at": None,
                }
                for i in rows
            ],
        )
    engine.dispose()


def write_config(tmp_path: Path, port: int, receiver_url: str) -> Path:
    make_ticket_store(tmp_path / "tickets.db")
    config = tmp_path / "backlog-monitor.yaml"
    config.write_text(
        f"""
log_level: INFO
store:
  url: "sqlite:///{tmp_path}/history.db"
http:
  listen: "127.0.0.1:{port}"
evaluation:
  interval: 1s
delivery:
  interval: 1s
  allowed_destinations: ["127.0.0.1"]
  schedule: exponential
  initial_backoff: 1s
  max_backoff: 2s
scheduler:
  jitter: 0s
sources:
  - kind: sql
    name: servicenow
    url: "sqlite:///{tmp_path}/tickets.db"
    interval: 1s
    mapping:
      table: incidents
      id: number
      queue: assignment_group
      status: state
      priority: priority
      created_at: opened_at
      resolved_at: resolved_at
      open_statuses: [open]
      timezone: America/Sao_Paulo
rules:
  - name: BacklogHigh
    metric: open_tickets
    op: ">"
    threshold: 500
    for: 0s
receivers:
  - kind: webhook
    name: ops
    url: "{receiver_url}"
    secret: "{SECRET}"
    timeout: 5s
""",
        encoding="utf-8",
    )
    return config


class Daemon:
    """One ``backlog-monitor run`` subprocess, its log in a file."""

    def __init__(self, config: Path, log: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                backlog_monitor("run", "--config", config),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                env=environment(),
            )

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-4000:]

    def wait_for(self, what: str, condition: Callable[[], bool]) -> None:
        """Poll ``condition`` until true; fail early, with the log, if the process died."""
        eventually(condition, what, died=self._died, context=self.output)

    def _died(self) -> str | None:
        code = self.proc.poll()
        return None if code is None else f"the daemon exited ({code})"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=PATIENCE)


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[Daemon]]:
    """Processes the test started; any still running at the end are killed."""
    procs: list[Daemon] = []
    yield procs
    for proc in procs:
        proc.stop()


def outbox(history: Path) -> list[tuple[str, str]]:
    """``(idempotency_key, status)`` of every outbox row, oldest first ([] before migration)."""
    if not history.exists():
        return []
    try:
        with closing(sqlite3.connect(f"file:{history}?mode=ro", uri=True, timeout=10)) as db:
            return db.execute("SELECT idempotency_key, status FROM outbox ORDER BY id").fetchall()
    except sqlite3.OperationalError:  # not migrated yet, or busy
        return []


def last_evaluation(history: Path) -> str | None:
    """When the firing alert was last evaluated (each evaluation is followed by a delivery)."""
    try:
        with closing(sqlite3.connect(f"file:{history}?mode=ro", uri=True, timeout=10)) as db:
            row = db.execute("SELECT MAX(last_eval_at) FROM alert_instances").fetchone()
    except sqlite3.OperationalError:  # busy
        return None
    return None if row is None or row[0] is None else str(row[0])


def evaluated_again(history: Path, times: int) -> Callable[[], bool]:
    """A condition: the daemon evaluated its rules ``times`` more times since this call."""
    before = last_evaluation(history)
    seen: set[str] = set()

    def check() -> bool:
        latest = last_evaluation(history)
        if latest is not None and latest != before:
            seen.add(latest)
        return len(seen) >= times

    return check


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


class TestCrashRecovery:
    def test_sigkill_with_a_pending_notification_delivers_it_exactly_once_after_restart(
        self, tmp_path: Path, receiver: RecordingReceiver, started: list[Daemon]
    ) -> None:
        """A notification pending at SIGKILL is delivered once after restart, with the same key."""
        port = free_port()
        config = write_config(tmp_path, port, receiver.url)
        history = tmp_path / "history.db"
        receiver.status = 503

        first = Daemon(config, tmp_path / "first.log")
        started.append(first)
        first.wait_for(
            "a pending notification",
            lambda: any(s == "pending" for _, s in outbox(history)) and receiver.attempts > 0,
        )
        first.proc.send_signal(signal.SIGKILL)
        assert first.proc.wait(timeout=PATIENCE) == -signal.SIGKILL
        before = outbox(history)
        assert before and {s for _, s in before} == {"pending"}
        assert receiver.received == []

        receiver.status = 204
        second = Daemon(config, tmp_path / "second.log")
        started.append(second)
        second.wait_for(
            "delivery after the restart",
            lambda: (
                len(receiver.received) >= len(before)
                and all(s == "delivered" for _, s in outbox(history))
            ),
        )
        # A few more evaluate-then-deliver rounds, counted in the store rather than
        # hoped for after a sleep (a loaded machine may run none in a given second).
        second.wait_for("three more evaluations", evaluated_again(history, 3))

        keys = [r.headers["webhook-id"] for r in receiver.received]
        assert Counter(keys) == Counter(k for k, _ in before)
        assert all(n == 1 for n in Counter(keys).values())
        after = outbox(history)
        assert [k for k, _ in after] == [k for k, _ in before]  # still firing: nothing new
        for message in receiver.received:
            body = Webhook(SECRET).verify(message.body, message.headers)
            assert body["status"] == "firing"
            assert body["alerts"][0]["values"]["fired"] == OPEN

        second.proc.send_signal(signal.SIGTERM)
        assert second.proc.wait(timeout=PATIENCE) == 0


class TestGracefulStop:
    def test_sigterm_exits_zero_within_seconds(
        self, tmp_path: Path, receiver: RecordingReceiver, started: list[Daemon]
    ) -> None:
        """SIGTERM while running: in-flight jobs finish, the process exits 0, the port is free."""
        port = free_port()
        config = write_config(tmp_path, port, receiver.url)
        daemon = Daemon(config, tmp_path / "daemon.log")
        started.append(daemon)
        daemon.wait_for("/readyz to answer 200", lambda: ready(port))
        daemon.wait_for("a delivery", lambda: len(receiver.received) > 0)

        daemon.proc.send_signal(signal.SIGTERM)
        # No bound on how long it takes: a loaded machine is slow, and a daemon that
        # ignored SIGTERM would still be running when PATIENCE runs out.
        code = daemon.proc.wait(timeout=PATIENCE)
        assert code == 0, daemon.output()
        assert "stopped" in daemon.output()
        with socket.socket() as sock:  # the port is released
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
