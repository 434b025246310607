"""Webhook intake (``POST /intake/<source>``) over real HTTP: signatures verified on the
raw body, replays and oversize bodies refused, early polls debounced and coalesced, and
the secrets in no log line, answer or configuration error."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
import yaml
from apscheduler.schedulers.background import BackgroundScheduler

from collectors.base import Snapshot, Window
from config.intake import IntakeSettings
from config.loader import load_settings
from config.settings import Settings
from monitor.daemon import Daemon
from monitor.errors import ConfigError
from monitor.http import HttpServer, build_app, daemon_registry
from monitor.intake.early import EarlyPolls, SeenDeliveries
from monitor.runner import run
from monitor.scheduler import poll_early
from tests.collectors.fakeserver import FakeServer
from tests.collectors.stores.github import TOKEN as GITHUB_TOKEN
from tests.collectors.stores.github import FakeGitHub
from tests.collectors.stores.github import Kit as GitHubKit
from tests.fakes import T0, FakeClock, ScriptedCollector
from tests.monitor.test_http import free_port
from tests.processes import PATIENCE, eventually

GITHUB_SECRET = "ghPLANTEDhooksecret4471"
HELPSCOUT_SECRET = "hsPLANTEDhooksecret9023"
API_TOKEN = "intake-test-api-token-0123"
BODY = json.dumps({"action": "opened", "issue": {"number": 7, "labels": [{"name": "bug"}]}})


def config_yaml(*, extra_intake: str = "", min_gap: str = "60s") -> str:
    return f"""
http:
  listen: 127.0.0.1:0
  api_tokens: [{API_TOKEN}]
  intake:
    - {{source: gh, secret: {GITHUB_SECRET}, max_body: 2048, min_gap: {min_gap}}}
    - {{source: hs, secret: {HELPSCOUT_SECRET}}}
{extra_intake}
sources:
  - kind: github
    name: gh
    repo: acme/support
    token: ghp_notusedinthistest000
    queues: [{{name: Bugs, label: bug}}]
  - kind: helpscout
    name: hs
    client_id: app
    client_secret: notusedinthistest
    mailboxes: [{{id: 1, name: Support}}]
  - kind: sql
    name: db
    url: sqlite:///unused.db
    mapping: {{table: tickets, queue: queue, status: status, created_at: created_at,
               open_statuses: [open]}}
"""


def github_headers(body: bytes, delivery: str, secret: str = GITHUB_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-Hub-Signature-256": f"sha256={digest}",
        "X-GitHub-Delivery": delivery,
        "X-GitHub-Event": "issues",
        "Content-Type": "application/json",
    }


def helpscout_headers(body: bytes, secret: str = HELPSCOUT_SECRET) -> dict[str, str]:
    digest = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha1).digest()).decode()
    return {
        "X-HelpScout-Signature": digest,
        "X-HelpScout-Event": "convo.created",
        "Content-Type": "application/json",
    }


def nothing(window: Window) -> Snapshot:
    raise AssertionError("the intake never polls by itself")


class Served:
    """A daemon's HTTP app on a real socket, with the early polls it asked for."""

    def __init__(self, settings: Settings, clock: FakeClock, store: sa.Engine) -> None:
        collectors = {name: ScriptedCollector(name, nothing) for name in ("gh", "hs", "db")}
        self.daemon = Daemon(settings, clock=clock, collectors=collectors, engine=store)
        self.woken: list[tuple[str, datetime]] = []
        self.daemon.early_poll = lambda source, at: self.woken.append((source, at))
        port = free_port()
        app = build_app(self.daemon, daemon_registry(self.daemon))
        self.server = HttpServer(app, "127.0.0.1", port)
        self.server.start()
        self.url = f"http://127.0.0.1:{port}"

    def post(self, source: str, body: bytes, headers: dict[str, str]) -> requests.Response:
        return requests.post(f"{self.url}/intake/{source}", data=body, headers=headers, timeout=10)

    def intake_counts(self) -> dict[tuple[str, str], float]:
        text = requests.get(
            f"{self.url}/metrics", headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10
        ).text
        counts = {}
        for line in text.splitlines():
            if line.startswith("backlog_intake_events_total{"):
                labels, value = line.rsplit(" ", 1)
                found = dict(
                    part.split("=", 1) for part in labels[labels.index("{") + 1 : -1].split(",")
                )
                counts[(found["source"].strip('"'), found["result"].strip('"'))] = float(value)
        return counts


@pytest.fixture
def served(clock: FakeClock, store: sa.Engine) -> Iterator[Served]:
    s = Served(load_settings(text=config_yaml()), clock, store)
    yield s
    s.server.stop()


class TestGitHub:
    def test_a_signed_event_polls_early_after_the_delay(self, served: Served) -> None:
        body = BODY.encode()
        answer = served.post("gh", body, github_headers(body, "d-1"))
        assert answer.status_code == 202
        assert answer.json()["result"] == "accepted"
        assert served.woken == [("gh", T0 + timedelta(seconds=5))]

    def test_a_tampered_body_is_refused(self, served: Served) -> None:
        body = BODY.encode()
        headers = github_headers(body, "d-2")
        tampered = body.replace(b'"number": 7', b'"number": 8')
        answer = served.post("gh", tampered, headers)
        assert answer.status_code == 401
        assert answer.json()["result"] == "bad_signature"
        assert served.woken == []

    def test_another_secret_or_no_signature_is_refused(self, served: Served) -> None:
        body = BODY.encode()
        wrong = served.post("gh", body, github_headers(body, "d-3", secret="guessed"))
        headers = github_headers(body, "d-4")
        del headers["X-Hub-Signature-256"]
        missing = served.post("gh", body, headers)
        assert (wrong.status_code, missing.status_code) == (401, 401)
        assert missing.json()["result"] == "missing_signature"
        assert served.woken == []
        counts = served.intake_counts()
        assert counts[("gh", "bad_signature")] == 1
        assert counts[("gh", "missing_signature")] == 1

    def test_a_replayed_delivery_polls_nothing(self, served: Served, clock: FakeClock) -> None:
        body = BODY.encode()
        headers = github_headers(body, "d-5")
        assert served.post("gh", body, headers).status_code == 202
        clock.advance(timedelta(minutes=10))  # past the pending poll: not a coalesced event
        replay = served.post("gh", body, headers)
        assert replay.status_code == 200
        assert replay.json()["result"] == "replayed"
        assert len(served.woken) == 1
        assert served.intake_counts()[("gh", "replayed")] == 1

    def test_a_burst_is_one_poll_and_early_polls_keep_min_gap(
        self, served: Served, clock: FakeClock
    ) -> None:
        body = BODY.encode()
        results = [served.post("gh", body, github_headers(body, f"b-{i}")) for i in range(5)]
        assert [r.json()["result"] for r in results] == ["accepted"] + ["coalesced"] * 4
        clock.advance(timedelta(seconds=10))  # the early poll ran at T0 + 5 s
        later = served.post("gh", body, github_headers(body, "b-5"))
        assert later.json()["result"] == "accepted"
        # min_gap 60 s after the first early poll, not the 5 s delay after this event
        assert served.woken == [
            ("gh", T0 + timedelta(seconds=5)),
            ("gh", T0 + timedelta(seconds=65)),
        ]
        counts = served.intake_counts()
        assert counts[("gh", "accepted")] == 2
        assert counts[("gh", "coalesced")] == 4

    def test_the_ping_of_a_new_hook_polls_nothing(self, served: Served) -> None:
        body = b'{"zen": "Keep it logically awesome."}'
        headers = {**github_headers(body, "p-1"), "X-GitHub-Event": "ping"}
        answer = served.post("gh", body, headers)
        assert (answer.status_code, answer.json()["result"]) == (200, "ping")
        assert served.woken == []

    def test_an_oversize_body_is_413_declared_or_streamed(self, served: Served) -> None:
        body = b"x" * 4096  # max_body is 2048
        declared = served.post("gh", body, github_headers(body, "big-1"))
        streamed = requests.post(  # chunked: no Content-Length, the limit holds while reading
            f"{served.url}/intake/gh",
            data=iter([body[:1024], body[1024:]]),
            headers=github_headers(body, "big-2"),
            timeout=10,
        )
        assert (declared.status_code, streamed.status_code) == (413, 413)
        assert served.woken == []
        assert served.intake_counts()[("gh", "too_large")] == 2


class TestHelpScout:
    def test_signed_tampered_and_replayed(self, served: Served, clock: FakeClock) -> None:
        body = json.dumps({"id": 4242, "status": "active", "mailboxId": 1}).encode()
        headers = helpscout_headers(body)
        assert served.post("hs", body, headers).status_code == 202
        assert served.woken == [("hs", T0 + timedelta(seconds=5))]
        tampered = served.post("hs", body.replace(b"active", b"closed"), headers)
        assert tampered.status_code == 401
        clock.advance(timedelta(minutes=5))
        replay = served.post("hs", body, headers)
        assert (replay.status_code, replay.json()["result"]) == (200, "replayed")
        assert len(served.woken) == 1
        counts = served.intake_counts()
        assert counts[("hs", "accepted")] == 1
        assert counts[("hs", "bad_signature")] == 1
        assert counts[("hs", "replayed")] == 1

    def test_a_github_signature_does_not_open_the_help_scout_endpoint(self, served: Served) -> None:
        body = BODY.encode()
        answer = served.post("hs", body, github_headers(body, "x-1", secret=HELPSCOUT_SECRET))
        assert (answer.status_code, answer.json()["result"]) == (401, "missing_signature")


class TestGate:
    def test_intake_needs_no_api_token_but_everything_else_still_does(self, served: Served) -> None:
        assert requests.get(f"{served.url}/api/v1/alerts", timeout=10).status_code == 401
        # A source without intake has no public endpoint: the token gate answers first.
        assert requests.post(f"{served.url}/intake/db", data=b"{}", timeout=10).status_code == 401
        # GET on an intake path is not an event.
        assert requests.get(f"{served.url}/intake/gh", timeout=10).status_code == 405


class TestSecrets:
    def test_no_secret_or_signature_in_logs_or_answers(
        self, served: Served, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG)
        body = BODY.encode()
        answers = [
            served.post("gh", body, github_headers(body, "s-1")),
            served.post("gh", body + b" ", github_headers(body, "s-2")),
            served.post("hs", body, helpscout_headers(body)),
            served.post("hs", body, helpscout_headers(body, secret="wrong")),
        ]
        signatures = [
            github_headers(body, "s-1")["X-Hub-Signature-256"].removeprefix("sha256="),
            helpscout_headers(body)["X-HelpScout-Signature"],
        ]
        said = caplog.text + "".join(a.text for a in answers) + served_metrics(served)
        assert "webhook for gh refused: bad_signature" in caplog.text
        for secret in (GITHUB_SECRET, HELPSCOUT_SECRET, *signatures):
            assert secret not in said

    def test_the_settings_do_not_show_the_secrets(self) -> None:
        settings = load_settings(text=config_yaml())
        shown = repr(settings) + str(settings) + settings.model_dump_json()
        assert GITHUB_SECRET not in shown and HELPSCOUT_SECRET not in shown
        assert settings.http.intake[0].key() == GITHUB_SECRET.encode()

    def test_config_errors_do_not_echo_the_secret(self) -> None:
        bad = "    - {source: nowhere, secret: ghPLANTEDother0001, max_body: -1}\n"
        with pytest.raises(ConfigError) as err:
            load_settings(text=config_yaml(extra_intake=bad))
        text = str(err.value)
        assert "http -> intake -> 2 -> max_body" in text
        assert "PLANTED" not in text


def served_metrics(served: Served) -> str:
    return requests.get(
        f"{served.url}/metrics", headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10
    ).text


class TestConfiguration:
    def test_an_intake_must_name_a_source_that_can_push(self) -> None:
        cases = {
            "    - {source: nowhere, secret: s1}\n": "no source named 'nowhere'",
            "    - {source: db, secret: s2}\n": "a sql source cannot push",
            "    - {source: hs, secret: s3}\n": "'hs' has several intakes",
        }
        for extra, message in cases.items():
            with pytest.raises(ConfigError) as err:
                load_settings(text=config_yaml(extra_intake=extra))
            assert "http -> intake -> 2 -> source" in str(err.value)
            assert message in str(err.value)

    def test_early_polls_are_priced_against_the_budget(self) -> None:
        """GitHub: 6 searches a poll, 15 a minute allowed (share 0.5 of 30): polls every
        5 min (1.2 a minute) plus early polls every 30 s (12) is 13.2, within; every 20 s
        (18) plus 1.2 is over."""
        load_settings(text=config_yaml(min_gap="30s"))
        with pytest.raises(ConfigError) as err:
            load_settings(text=config_yaml(min_gap="20s"))
        assert "http -> intake -> 0 -> min_gap" in str(err.value)
        assert "could use 19 searches a minute, over the 15" in str(err.value)

    @staticmethod
    def with_gh2(text: str, *, token: str = "ghp_notusedinthistest000", **extra: str) -> str:
        """``text`` plus a second GitHub source ``gh2`` (the same token as ``gh`` unless
        told), one queue, with ``extra`` fields."""
        fields = "".join(f"\n    {k}: {v}" for k, v in extra.items())
        return (
            text
            + f"""  - kind: github
    name: gh2
    repo: acme/web
    token: {token}
    queues: [{{name: Web, label: bug}}]{fields}
"""
        )

    def test_github_sources_of_one_token_are_priced_together(self) -> None:
        """gh (6 searches every 10 min, early polls every 30 s: 12.6 a minute) and gh2
        of the same token (6 every minute): each fits the token's 15 a minute alone, and
        without gh's early polls together (6.6), but with them 18.6 is over; with another
        token gh2 is on another quota and both load."""
        text = self.with_gh2(config_yaml(min_gap="30s"), interval="1m")
        with pytest.raises(ConfigError) as err:
            load_settings(text=text)
        message = str(err.value)
        assert "http -> intake -> 0 -> min_gap" in message
        assert "GitHub gh, gh2 (one token; early: gh every 30s)" in message
        assert "could use 19 searches a minute, over the 15" in message
        other = self.with_gh2(config_yaml(min_gap="30s"), token="ghp_another000", interval="1m")
        assert len(load_settings(text=other).sources) == 4

    def test_early_polls_of_several_sources_of_one_token_add_up(self) -> None:
        """gh and gh2 both push, one token: 6 x (0.1 + 1.5) = 9.6 searches a minute each
        with min_gap 40 s, within 15 alone, 19.2 together: refused at the last intake of
        the token; with min_gap 60 s, 6.6 each, 13.2 together: loads."""
        hook = "    - {source: gh2, secret: gh2secret, min_gap: %s}"
        over = self.with_gh2(config_yaml(min_gap="40s", extra_intake=hook % "40s"))
        with pytest.raises(ConfigError) as err:
            load_settings(text=over)
        assert "http -> intake -> 2 -> min_gap" in str(err.value)
        assert "could use 19 searches a minute, over the 15" in str(err.value)
        fits = self.with_gh2(config_yaml(min_gap="60s", extra_intake=hook % "60s"))
        assert len(load_settings(text=fits).http.intake) == 3

    def test_graphql_points_of_early_polls_are_priced(self) -> None:
        """On GraphQL a poll is 1 point, not 6 searches: with 40 points an hour (20 this
        daemon's), polls every 10 min (6 an hour) and early polls every 5 min (12) fit;
        every 2 min (30) is over, in points an hour (the searches' check would see none)."""
        gql = "search_api: graphql\n    graphql_points_per_hour: 40\n    queues:"
        base = config_yaml(min_gap="5m").replace("queues:", gql, 1)
        assert load_settings(text=base).sources[0].uses_graphql()
        with pytest.raises(ConfigError) as err:
            load_settings(text=config_yaml(min_gap="2m").replace("queues:", gql, 1))
        assert "http -> intake -> 0 -> min_gap" in str(err.value)
        assert "could use 36 GraphQL points an hour, over the 20" in str(err.value)

    def test_the_secret_may_come_from_the_environment(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("HOOK_SECRET", "from-env")
        text = config_yaml().replace(f"secret: {GITHUB_SECRET}", "secret_env: HOOK_SECRET")
        settings = load_settings(text=text)
        assert settings.http.intake[0].key() == b"from-env"


def test_the_docs_intake_example_is_valid_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/hosted.md's ``http.intake`` example loads as it stands (its secret from the
    environment variable it names), with the defaults it shows."""
    text = (Path(__file__).parents[2] / "docs" / "hosted.md").read_text(encoding="utf-8")
    section = text.split("## Webhook intake", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    [entry] = yaml.safe_load(block)["http"]["intake"]
    monkeypatch.setenv(entry["secret_env"], "from-env")
    intake = IntakeSettings.model_validate(entry)
    assert intake.key() == b"from-env" and intake.path == "/intake/helpscout"
    defaults = IntakeSettings.model_validate({"source": "helpscout", "secret": "s"})
    shown = {k: getattr(intake, k) for k in ("max_body", "delay", "min_gap", "replay_window")}
    assert shown == {k: getattr(defaults, k) for k in shown}


class TestDecisions:
    def test_early_polls(self) -> None:
        early = EarlyPolls(timedelta(seconds=5), timedelta(seconds=60))
        assert early.request("a", T0) == T0 + timedelta(seconds=5)
        assert early.request("a", T0 + timedelta(seconds=4)) is None  # pending: coalesced
        assert early.request("b", T0) == T0 + timedelta(seconds=5)  # sources are apart
        assert early.request("a", T0 + timedelta(seconds=6)) == T0 + timedelta(seconds=65)
        assert early.request("a", T0 + timedelta(minutes=5)) == T0 + timedelta(minutes=5, seconds=5)

    def test_seen_deliveries_forget_after_the_window_and_over_capacity(self) -> None:
        seen = SeenDeliveries(timedelta(minutes=10), capacity=2)
        assert seen.first_time("x", T0)
        assert not seen.first_time("x", T0 + timedelta(minutes=9))
        assert seen.first_time("x", T0 + timedelta(minutes=11))  # forgotten: window over
        assert seen.first_time("y", T0 + timedelta(minutes=11))
        assert seen.first_time("z", T0 + timedelta(minutes=11))  # capacity 2: x forgotten
        assert seen.first_time("x", T0 + timedelta(minutes=11))


class TestScheduler:
    def test_poll_early_brings_a_due_poll_forward_and_never_delays_one(self) -> None:
        ran = threading.Event()
        scheduler = BackgroundScheduler(timezone="UTC")
        now = datetime.now(UTC)
        scheduler.add_job(
            ran.set, "interval", hours=1, id="poll:gh", next_run_time=now + timedelta(hours=1)
        )
        scheduler.add_job(
            lambda: None,
            "interval",
            hours=1,
            id="poll:hs",
            next_run_time=now + timedelta(seconds=30),
        )
        scheduler.start()
        try:
            poll_early(scheduler, "hs", now + timedelta(minutes=10))  # due sooner: untouched
            poll_early(scheduler, "nowhere", now)  # no such job: nothing
            hs = scheduler.get_job("poll:hs")
            assert hs is not None and hs.next_run_time == now + timedelta(seconds=30)
            poll_early(scheduler, "gh", datetime.now(UTC) + timedelta(milliseconds=100))
            assert ran.wait(10)
            gh: Any = scheduler.get_job("poll:gh")
            # the interval counts from the early run: the next poll is an hour after it
            assert gh.next_run_time > datetime.now(UTC) + timedelta(minutes=59)
        finally:
            scheduler.shutdown(wait=False)


class TestThroughTheRunningDaemon:
    def test_a_webhook_brings_the_hourly_poll_forward(self, tmp_path: Path) -> None:
        """``monitor.runner.run`` with a GitHub source polled hourly against its fake: the
        first poll runs at start; a signed event makes the next one run within seconds."""
        fake = FakeGitHub(lambda: datetime.now(UTC), per_minute=1_000_000)
        with FakeServer(fake) as server:
            source = GitHubKit().config(server.url, {"queues": 1})
            source.update(token=GITHUB_TOKEN, token_env=None, interval="1h")
            port = free_port()
            document = {
                "http": {
                    "listen": f"127.0.0.1:{port}",
                    "api_tokens": [API_TOKEN],
                    "intake": [
                        {"source": "github", "secret": GITHUB_SECRET, "delay": "1s"},
                    ],
                },
                "store": {"url": f"sqlite:///{tmp_path}/history.db"},
                "forecasts": {"enabled": False},
                "sources": [source],
            }
            settings = load_settings(text=yaml.safe_dump(document))
            stop = threading.Event()
            runner = threading.Thread(target=run, args=(settings, stop), daemon=True)
            runner.start()
            try:
                eventually(lambda: fake.searches >= 6, "the first poll")
                first = fake.searches
                body = BODY.encode()
                answer = requests.post(
                    f"http://127.0.0.1:{port}/intake/github",
                    data=body,
                    headers=github_headers(body, "run-1"),
                    timeout=10,
                )
                assert answer.status_code == 202, answer.text
                eventually(lambda: fake.searches >= first + 6, "the early poll")
                assert any(t.name == "exposition" for t in threading.enumerate())
            finally:
                stop.set()
                runner.join(PATIENCE)
        assert not runner.is_alive()
        # the daemon's /metrics renderer (monitor.exposition) stopped with it
        assert not any(t.name == "exposition" for t in threading.enumerate())
