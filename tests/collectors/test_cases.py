"""Every hosted store's cases, from data: ``cases/<store>/<case>/case.yaml``.

A case names the instants polled, the source's configuration (merged over the store
kit's defaults), the faults the fake server injects and the store quirks it plays, and
what to expect: the snapshot (computed here with pandas from the same real log the fake
server answers from, and compared exactly), or the error; the requests sent (counted by
the fake server, ``METHOD path: n``) and the waits slept. A new store is data plus one
module under ``tests/collectors/stores/``.

Credentials are planted with recognisable values; no error message and no log line may
contain them.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

import monitor.errors
from collectors import REGISTRY
from collectors.base import Window
from config.durations import parse_duration
from monitor.clock import FakeClock
from tests.collectors.expected import expected_queues
from tests.collectors.fakeserver import FakeServer, Fault
from tests.collectors.stores import (
    freshdesk,
    fxiaoke,
    github,
    gitlab,
    helpscout,
    jira,
    servicenow,
    udesk,
    zendesk,
    zohodesk,
)

KITS: dict[str, Any] = {
    "zohodesk": zohodesk.Kit(),
    "zendesk": zendesk.Kit(),
    "jira": jira.Kit(),
    "freshdesk": freshdesk.Kit(),
    "servicenow": servicenow.Kit(),
    "helpscout": helpscout.Kit(),
    "udesk": udesk.Kit(),
    "fxiaoke": fxiaoke.Kit(),
    "github": github.Kit(),
    "gitlab": gitlab.Kit(),
}
CASES = sorted((Path(__file__).parent / "cases").glob("*/*/case.yaml"))


@pytest.mark.parametrize("path", CASES, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}")
def test_case(
    path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The collector's figures, errors and requests are those the case expects."""
    caplog.set_level(logging.DEBUG)
    case = yaml.safe_load(path.read_text(encoding="utf-8"))
    kit = KITS[path.parent.parent.name]
    for name, value in kit.environment.items():
        monkeypatch.setenv(name, value)
    polls = case["polls"]
    clock = FakeClock(_instant(polls[0]["at"]))
    slept: list[float] = []
    errors: list[str] = []
    with FakeServer(kit.app(clock, case.get("quirks", {}))) as server:
        server.inject(*(Fault(**f) for f in case.get("faults", [])))
        kind = kit.config(server.url, case)["kind"]
        config = REGISTRY[kind].config_model.model_validate(kit.config(server.url, case))
        # The collector's time moves on while it sleeps; the store stays at the poll's
        # instant, so its figures are those of the window's end.
        collector = REGISTRY[kind](  # type: ignore[call-arg]
            config, clock=lambda: clock().timestamp() + sum(slept), sleep=slept.append
        )
        try:
            for poll in polls:
                clock.now = _instant(poll["at"])
                window = Window(clock.now - parse_duration(poll.get("window", "15m")), clock.now)
                errors += _check_poll(collector, window, poll, kit, config)
        finally:
            collector.close()
        expect = case.get("expect", {})
        sent = Counter(server.paths())
        for request, n in expect.get("requests", {}).items():
            assert sent[request] == n, f"{request}: {sent[request]} sent, {n} expected"
        if "max_requests" in expect:
            assert len(server.calls) <= expect["max_requests"]
        if "waits" in expect:  # jittered: how many, not how long
            assert len(slept) == expect["waits"], slept
    for secret in kit.secrets:
        assert secret not in caplog.text
        assert not [e for e in errors if secret in e]


def _check_poll(
    collector: Any, window: Window, poll: dict[str, Any], kit: Any, config: Any
) -> list[str]:
    """Poll once and compare; returns the error messages seen (checked for secrets)."""
    if "error" in poll:
        expected_error = getattr(monitor.errors, poll["error"])
        with pytest.raises(expected_error) as caught:
            collector.collect(window)
        return [str(caught.value)]
    snapshot = collector.collect(window)
    assert snapshot.window == window
    assert snapshot.exactness == poll.get("exactness", "exact")
    if hasattr(kit, "expected_snapshot"):  # a store giving fewer figures says which
        expected = kit.expected_snapshot(config, window)
    else:
        expected = expected_queues(
            kit.log(),
            kit.queues(config),
            window.start,
            window.end,
            aging=getattr(config, "aging", getattr(kit, "aging", False)),
            flow_lag=getattr(config, "index_lag", timedelta(0)),
            priority=getattr(kit, "priorities", False),
        )
    if hasattr(kit, "expected"):  # the store's own figures beyond the common ones
        expected = tuple(kit.expected(config, window, q) for q in expected)
    assert len(snapshot.queues) == len(expected)
    for got, want in zip(snapshot.queues, expected, strict=True):
        assert got == want, f"{want.queue}: collected {got}, expected {want}"
    busy = poll.get("busy", {})  # the case's own check that the log is busy then
    assert sum(q.open_total for q in snapshot.queues) >= busy.get("open", 0)
    assert sum(q.created or 0 for q in snapshot.queues) >= busy.get("created", 0)
    assert sum(q.resolved or 0 for q in snapshot.queues) >= busy.get("resolved", 0)
    return []


def _instant(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
