"""Fxiaoke's configuration example and the cost of a poll against its self-imposed pace."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from collectors.fxiaoke import FxiaokeConfig
from config.loader import load_settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "examples" / "fxiaoke.yaml"
DOC = ROOT / "docs" / "hosted" / "fxiaoke.md"


def config(n: int, **changes: object) -> FxiaokeConfig:
    base: dict[str, object] = {
        "kind": "fxiaoke",
        "name": "f",
        "app_id": "a",
        "app_secret": "PLANTED-s",
        "permanent_code": "PLANTED-p",
        "open_user_id": "u",
        "status_field": "s",
        "open_statuses": {"1": "new", "2": "doing", "3": "waiting"},
        "queue_field": "q",
        "resolved_field": "r",
        "queues": [{"value": f"v{i}", "name": f"q{i}"} for i in range(n)],
    }
    return FxiaokeConfig.model_validate({**base, **changes})


class TestFxiaokeConfig:
    def test_the_documented_example_is_the_file_and_loads(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        text = EXAMPLE.read_text(encoding="utf-8")
        blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
        assert text in blocks
        monkeypatch.setenv("FXIAOKE_APP_SECRET", "PLANTED-s")
        monkeypatch.setenv("FXIAOKE_PERMANENT_CODE", "PLANTED-p")
        source = load_settings(text=text).sources[0]
        assert isinstance(source, FxiaokeConfig)
        assert source.poll_cost().requests == 18
        assert source.budget_warnings() == []

    def test_cost_per_poll_at_20_and_500_queues(self) -> None:
        """The figures of docs/hosted/fxiaoke.md."""
        assert config(20, interval="1h").poll_cost().requests == 180
        assert config(20, interval="1h", aging=False).poll_cost().requests == 100
        assert config(500, interval="1d", aging=False).poll_cost().requests == 2500

    def test_polling_over_the_pace_is_an_error(self) -> None:
        """20 queues every minute: 180 a minute, over the 120 it allows itself."""
        with pytest.raises(ValidationError, match="requests per minute"):
            config(20, interval="1m")
