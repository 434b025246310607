"""Firing alerts are re-sent to Alertmanager every minute, as Prometheus does."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import sqlalchemy as sa

from config.loader import load_settings
from tests.fakes import FakeClock, RecordingReceiver, ScriptedCollector
from tests.monitor.test_daemon import SOURCE, Backlog, config_yaml, make_daemon, tick


class TestAlertmanagerResend:
    def test_firing_alert_is_pushed_again_each_minute_then_resolved(
        self, clock: FakeClock, store: sa.Engine, receiver: RecordingReceiver
    ) -> None:
        """While firing, one push per minute slot; after resolving, a push with endsAt."""
        base = receiver.url.removesuffix("/hook")
        text = config_yaml({}, for_="0s").replace(
            "receivers:\n",
            f"receivers:\n  - kind: alertmanager\n    name: am\n    urls: [{base!r}]\n",
        )
        backlog = Backlog(open=900)
        daemon = make_daemon(
            load_settings(text=text), clock, ScriptedCollector(SOURCE, backlog), store
        )
        for _ in range(4):
            tick(daemon, clock, timedelta(minutes=1))
        firing = [json.loads(r.body) for r in receiver.received]
        assert len(firing) >= 4  # the first notification plus a re-send per minute
        assert all(a[0]["labels"]["alertname"] == "BacklogHigh" for a in firing)
        backlog.open = 10
        tick(daemon, clock, timedelta(minutes=1))
        daemon.deliver()
        last = json.loads(receiver.received[-1].body)[0]
        ends = datetime.fromisoformat(last["endsAt"].replace("Z", "+00:00"))
        assert ends <= clock.now  # the resolve time, not now + resend_validity
        count = len(receiver.received)
        tick(daemon, clock, timedelta(minutes=1))
        assert len(receiver.received) == count  # nothing re-sent once resolved
