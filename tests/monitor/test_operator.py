"""Silences through the HTTP API and the CLI; dead letters listed and replayed."""

from __future__ import annotations

import subprocess
import warnings
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from prometheus_client import CollectorRegistry

from monitor.http import build_app
from tests.fakes import FakeClock, RecordingReceiver
from tests.monitor.test_daemon import AUTH, Backlog, outbox_rows, tick
from tests.monitor.test_outbox import build
from tests.processes import run_cli

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


class TestSilencesApi:
    def test_silenced_alert_is_not_notified_until_expired(
        self, clock: FakeClock, store: sa.Engine, receiver: RecordingReceiver
    ) -> None:
        """POST a silence: the firing alert sends nothing; DELETE it: the next firing is sent."""
        backlog = Backlog(open=100)
        daemon = build(clock, backlog, store, {"ops": receiver.url})
        client = TestClient(build_app(daemon, CollectorRegistry()), headers=AUTH)
        answer = client.post(
            "/api/v1/silences",
            json={
                "matchers": 'alertname="BacklogHigh"',
                "duration": "1h",
                "createdBy": "alice",
                "comment": "migration",
            },
        )
        assert answer.status_code == 200
        silence_id = answer.json()["silenceID"]
        assert client.get("/api/v1/silences").json()[0]["status"]["state"] == "active"
        backlog.open = 900
        tick(daemon, clock, timedelta(minutes=3))
        assert receiver.received == []
        assert client.delete(f"/api/v1/silences/{silence_id}").status_code == 200
        backlog.open = 100
        tick(daemon, clock, timedelta(minutes=3))
        backlog.open = 950
        tick(daemon, clock, timedelta(minutes=3))
        statuses = [r.json["status"] for r in receiver.received]
        assert statuses[-1] == "firing"

    def test_invalid_silence_is_400_with_reason(
        self, clock: FakeClock, store: sa.Engine, receiver: RecordingReceiver
    ) -> None:
        """A silence without matchers is refused with the reason."""
        daemon = build(clock, Backlog(open=1), store, {"ops": receiver.url})
        client = TestClient(build_app(daemon, CollectorRegistry()), headers=AUTH)
        answer = client.post("/api/v1/silences", json={"createdBy": "a", "comment": "c"})
        assert answer.status_code == 400
        assert "matchers" in answer.json()["error"]

    def test_alerts_endpoint_lists_instances(
        self, clock: FakeClock, store: sa.Engine, receiver: RecordingReceiver
    ) -> None:
        """GET /api/v1/alerts shows each instance with its state and values."""
        backlog = Backlog(open=900)
        daemon = build(clock, backlog, store, {"ops": receiver.url})
        tick(daemon, clock, timedelta(minutes=3))
        client = TestClient(build_app(daemon, CollectorRegistry()), headers=AUTH)
        states = {a["labels"]["alertname"]: a["state"] for a in client.get("/api/v1/alerts").json()}
        assert states["BacklogHigh"] == "firing"


class TestCli:
    def _config(self, tmp_path: Path) -> Path:
        path = tmp_path / "c.yaml"
        path.write_text(f'store: {{url: "sqlite:///{tmp_path}/h.db"}}\n', encoding="utf-8")
        return path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(*args)

    def test_silence_add_list_expire(self, tmp_path: Path) -> None:
        """The CLI creates, lists and expires a silence in the configured store."""
        config = str(self._config(tmp_path))
        added = self.run(
            "silence",
            "add",
            "--config",
            config,
            "--author",
            "bob",
            "--comment",
            "maintenance",
            "alertname=BacklogHigh",
            'queue=~"Bill.*"',
        )
        assert added.returncode == 0, added.stderr
        silence_id = added.stdout.strip()
        listed = self.run("silence", "list", "--config", config)
        assert silence_id in listed.stdout and "active" in listed.stdout
        assert 'queue=~"Bill.*"' in listed.stdout
        assert self.run("silence", "expire", "--config", config, silence_id).returncode == 0
        assert "expired" in self.run("silence", "list", "--config", config).stdout

    def test_dead_letters_replay(
        self, tmp_path: Path, clock: FakeClock, receiver: RecordingReceiver
    ) -> None:
        """A dead letter is listed and replayed with its idempotency key; it then arrives."""
        from monitor.store.engine import migrate, open_store

        config = self._config(tmp_path)
        store = open_store(f"sqlite:///{tmp_path}/h.db")
        migrate(store)
        backlog = Backlog(open=900)
        daemon = build(clock, backlog, store, {"ops": receiver.url})
        receiver.status = 400
        tick(daemon, clock, timedelta(minutes=3))
        [dead] = [r for r in outbox_rows(store) if r["status"] == "dead"]
        listed = self.run("outbox", "dead", "--config", str(config))
        assert dead["idempotency_key"] in listed.stdout
        replayed = self.run("outbox", "replay", "--config", str(config), str(dead["id"]))
        assert "1 message(s)" in replayed.stdout
        receiver.status = 204
        clock.advance(timedelta(minutes=1))
        daemon.deliver()
        assert receiver.received[0].headers["webhook-id"] == dead["idempotency_key"]
        store.dispose()
