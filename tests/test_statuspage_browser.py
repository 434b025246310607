"""The status page in a real browser (Debian's headless Chromium) while the demo replays.

The replay is held at Monday 16:30 (tests/livedemo.py): BacklogSurge fired at 16:15 and
the staffing advice has been sent. Selenium drives Chromium through Debian's
chromedriver (the same version as the browser; nothing is downloaded).

``BACKLOG_SCREENSHOTS=docs/img`` makes the test write the README's pictures there:
    BACKLOG_SCREENSHOTS=docs/img .venv/bin/python -m pytest tests/test_statuspage_browser.py
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from tests.conftest import require_binary
from tests.livedemo import LiveDemo

pytestmark = pytest.mark.slow

HINT = "install Debian's chromium and chromium-driver (.ci/install-browser)"
DESKTOP = (1280, 900)
PHONE = (390, 844)


@dataclass(frozen=True)
class Loaded:
    """The page as the browser saw it: text, console messages, and layout figures."""

    text: str
    console: list[dict[str, Any]]
    cards: dict[str, str]
    phone_overflow: int


def chromium() -> Iterator[webdriver.Chrome]:
    """Headless Chromium with a throwaway profile and no network beyond the page."""
    browser = require_binary("chromium", "chromium-browser", hint=HINT)
    driver_binary = require_binary("chromedriver", hint=HINT)
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        for flag in (
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            f"--user-data-dir={profile}",
        ):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(options=options, service=Service(driver_binary))
        try:
            yield driver
        finally:
            driver.quit()


@pytest.fixture(scope="module")
def loaded(live_demo: LiveDemo) -> Iterator[Loaded]:
    """The status page loaded once on a desktop-sized and once on a phone-sized window."""
    shots = os.environ.get("BACKLOG_SCREENSHOTS")
    for driver in chromium():
        driver.set_window_size(*DESKTOP)
        driver.get(f"{live_demo.url}/")
        text = driver.find_element(By.TAG_NAME, "body").text
        cards = {
            card.get_attribute("data-queue") or "": card.get_attribute("class") or ""
            for card in driver.find_elements(By.CSS_SELECTOR, "section.card")
        }
        if shots:
            driver.save_screenshot(str(Path(shots) / "status-page.png"))
        driver.set_window_size(*PHONE)
        driver.get(f"{live_demo.url}/")
        overflow = driver.execute_script(
            "return document.documentElement.scrollWidth - window.innerWidth"
        )
        if shots:
            driver.save_screenshot(str(Path(shots) / "status-page-phone.png"))
        console = driver.get_log("browser")
        yield Loaded(text, console, cards, int(overflow))


class TestStatusPageInChromium:
    def test_every_queue_of_the_demo_is_on_the_page(self, loaded: Loaded) -> None:
        """The total queue 'all' and the assignment groups the replay polled have a card."""
        assert "all" in loaded.cards
        assert len([q for q in loaded.cards if q.startswith("Group ")]) > 20

    def test_the_firing_alert_heads_the_page(self, loaded: Loaded) -> None:
        """'all' is marked firing and BacklogSurge is named as firing on the page."""
        assert "firing" in loaded.cards["all"].split()
        assert "BacklogSurge firing" in loaded.text
        assert next(iter(loaded.cards)) == "all"  # queues in trouble come first

    def test_the_staffing_suggestion_is_shown(self, loaded: Loaded) -> None:
        """The current recommendation ('Add N agents to queue all ...') is on the page."""
        assert "Add " in loaded.text and " agents to queue all" in loaded.text

    def test_the_forecast_breach_and_sla_are_shown(self, loaded: Loaded) -> None:
        """The queue's forecast line and its resolution SLA figures are on the page."""
        assert "Forecast: limit crossed" in loaded.text
        assert "past resolution SLA" in loaded.text

    def test_both_sources_are_healthy(self, loaded: Loaded) -> None:
        """Each configured source is listed as up."""
        assert "servicenow up" in loaded.text and "servicenow-total up" in loaded.text

    def test_the_browser_logs_no_error(self, loaded: Loaded) -> None:
        """No console error: no failed resource, no CSP violation, no script error."""
        assert [m for m in loaded.console if m["level"] == "SEVERE"] == []

    def test_a_phone_screen_needs_no_sideways_scrolling(self, loaded: Loaded) -> None:
        """At 390 px wide the page is no wider than the screen."""
        assert loaded.phone_overflow <= 0
