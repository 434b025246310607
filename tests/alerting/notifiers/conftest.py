"""Notifier test helpers: canonical notifications, the secret check, a real Alertmanager.

The Alertmanager binary comes from Debian's ``prometheus-alertmanager`` package
(``.ci/install-alerting-tools``). When ``CI=true`` a missing binary fails the test;
elsewhere it is skipped.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import socket
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from alerting.notifications import Notification, build
from alerting.rules import ThresholdRule
from alerting.state import AlertInstance, AlertState, Transition
from tests.conftest import require_binary
from tests.fakes import T0, RecordingReceiver
from tests.processes import PATIENCE, start_logged, stop, wait_ready

ALERTMANAGER_BINARIES = ("prometheus-alertmanager", "alertmanager")
"""Debian's name for the binary, then upstream's."""

WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"s3cr3t-signing-key-for-tests!!").decode()
RULE = ThresholdRule(
    name="BacklogHigh",
    metric="open_tickets",
    threshold=500,
    severity="critical",
    annotations={
        "summary": "{queue} has {value} open tickets (limit {threshold})",
        "description": "Backlog of {queue} above {threshold} <for real> & growing",
        "runbook_url": "https://runbooks.example.com/backlog-high",
        "dashboard_url": "https://grafana.example.com/d/backlog?var-queue={queue}",
    },
)
LABELS = {
    "alertname": "BacklogHigh",
    "source": "zendesk",
    "queue": "billing",
    "severity": "critical",
}


def notification(
    status: str = "firing",
    *,
    fired_at: datetime = T0,
    resolved_at: datetime | None = None,
    rule: ThresholdRule = RULE,
    labels: Mapping[str, str] = LABELS,
    receiver: str = "ops",
) -> Notification:
    """The canonical notification the engine writes to the outbox, built by the real code."""
    instance = dataclasses.replace(
        AlertInstance.new(rule.name, labels),
        state=AlertState.FIRING if status == "firing" else AlertState.INACTIVE,
        active_since=fired_at - timedelta(minutes=10),
        fired_at=fired_at,
        resolved_at=(resolved_at or fired_at + timedelta(hours=1))
        if status == "resolved"
        else None,
        fire_value=612.0,
        last_value=612.0 if status == "firing" else 431.0,
        state_reason="above threshold" if status == "firing" else "below threshold",
    )
    transition = Transition.FIRING if status == "firing" else Transition.RESOLVED
    return build(rule, instance, transition, receiver, "http://monitor.example.com:9464")


def body_of(message: Notification) -> bytes:
    """The outbox bytes of a notification (what ``send`` receives)."""
    return json.dumps(message.payload).encode()


def assert_no_secret_in_error(
    error: BaseException, *secrets: str, logs: str = "", min_length: int = 8
) -> None:
    """No secret (nor a secret URL's path or last segment) shows in an error or in logs.

    Checks ``str`` and ``repr`` of the error, its args, its cause and context chain, and
    any log text captured around it.
    """
    texts = [logs]
    seen: BaseException | None = error
    while seen is not None:
        texts += [str(seen), repr(seen), *map(str, seen.args)]
        seen = seen.__cause__ or seen.__context__
    pieces = set()
    for secret in secrets:
        assert len(secret) >= min_length, "a test secret too short to search for"
        pieces.add(secret)
        if "://" in secret:  # a secret URL: neither its path nor its last segment may leak
            path = "/" + secret.split("://", 1)[1].split("/", 1)[-1]
            pieces |= {p for p in (path, path.rsplit("/", 1)[-1]) if len(p) >= min_length}
    for text in texts:
        for piece in pieces:
            assert piece not in text, f"secret {piece[:3]}... leaked into {text[:80]!r}..."


def closed_url(path: str = "/hook") -> str:
    """A loopback URL nothing listens on (connection refused)."""
    return f"http://127.0.0.1:{free_port()}{path}"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def other_receiver() -> Iterator[RecordingReceiver]:
    """A second recording receiver (e.g. a second Alertmanager-like endpoint)."""
    server = RecordingReceiver()
    yield server
    server.close()


def find_alertmanager() -> str:
    """The Alertmanager binary, or skip (fail under ``CI=true``)."""
    return require_binary(
        *ALERTMANAGER_BINARIES, hint="install them with .ci/install-alerting-tools"
    )


@dataclass
class RunningAlertmanager:
    """An Alertmanager process on a free loopback port."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def alerts(self, **params: str) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts`` (active, unsilenced, uninhibited ones by default)."""
        response = requests.get(f"{self.url}/api/v2/alerts", params=params, timeout=PATIENCE)
        response.raise_for_status()
        alerts: list[dict[str, Any]] = response.json()
        return alerts


def alertmanager_config(webhook_url: str) -> str:
    """A route sending every alert, at once and on every change, to one webhook."""
    return (
        "route:\n"
        "  receiver: hook\n"
        "  group_by: ['alertname', 'queue']\n"
        "  group_wait: 0s\n"
        "  group_interval: 1s\n"
        "  repeat_interval: 1h\n"
        "receivers:\n"
        "  - name: hook\n"
        "    webhook_configs:\n"
        f"      - url: {webhook_url!r}\n"
        "        send_resolved: true\n"
    )


@pytest.fixture
def alertmanager(tmp_path: Path, receiver: RecordingReceiver) -> Iterator[RunningAlertmanager]:
    """A real, unclustered Alertmanager that forwards to ``receiver``."""
    binary = find_alertmanager()
    config = tmp_path / "alertmanager.yml"
    config.write_text(alertmanager_config(receiver.url), encoding="utf-8")
    port = free_port()
    log = tmp_path / "alertmanager.log"
    process = start_logged(
        [
            binary,
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'data'}",
            "--cluster.listen-address=",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        log,
    )
    running = RunningAlertmanager(f"http://127.0.0.1:{port}", process, log)
    try:
        wait_ready("alertmanager", running.url, process, log)
        yield running
    finally:
        stop(process)
