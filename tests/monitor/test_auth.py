"""The token gate in front of every HTTP path but the health checks and (by default) /metrics."""

from __future__ import annotations

import base64
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from config.loader import load_settings
from monitor.daemon import Daemon
from monitor.errors import ConfigError
from monitor.http import build_app
from tests.fakes import FakeClock, RecordingReceiver, ScriptedCollector
from tests.monitor.test_daemon import (
    API_TOKEN,
    SOURCE,
    Backlog,
    config_yaml,
    make_daemon,
    registry_for,
    tick,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient

PROTECTED = [
    ("GET", "/"),
    ("GET", "/api/v1/alerts"),
    ("GET", "/api/v1/silences"),
    ("POST", "/api/v1/silences"),
    ("DELETE", "/api/v1/silences/some-id"),
    ("GET", "/api/v1/forecasts"),
    ("GET", "/api/v1/forecasts/helpdesk/Group 70"),
    ("GET", "/api/v1/queues/Group 70/scaling"),
    ("GET", "/admin"),
]
PUBLIC = ["/healthz", "/readyz", "/metrics"]

Serve = Callable[[str | None], TestClient]


@pytest.fixture
def serve(clock: FakeClock, store: sa.Engine, receiver: RecordingReceiver) -> Iterator[Serve]:
    """The app of a polled daemon; ``extra`` is appended to ``http:`` (None: no token)."""
    daemons: list[Daemon] = []

    def build(extra: str | None) -> TestClient:
        tokens = f'  api_tokens: ["{API_TOKEN}"]\n'
        text = config_yaml({"ops": receiver.url}).replace(
            tokens, "" if extra is None else tokens + extra
        )
        collector = ScriptedCollector(SOURCE, Backlog(open=3))
        daemon = make_daemon(load_settings(text=text), clock, collector, store)
        daemons.append(daemon)
        tick(daemon, clock)
        return TestClient(build_app(daemon, registry_for(daemon)))

    yield build
    for daemon in daemons:
        daemon.close()


def basic(password: str) -> str:
    return "Basic " + base64.b64encode(f"anyone:{password}".encode()).decode()


class TestTokenGate:
    @pytest.mark.parametrize(("method", "path"), PROTECTED)
    def test_every_other_path_refuses_a_missing_or_wrong_token(
        self, serve: Serve, method: str, path: str
    ) -> None:
        """No token, a wrong one, or a token's prefix: 401 with a challenge, and no data."""
        client = serve("")
        for headers in (
            {},
            {"Authorization": "Bearer wrong-token"},
            {"X-API-KEY": API_TOKEN[:-1]},
            {"Authorization": basic(API_TOKEN + "x")},
            {"Authorization": "Basic %%%not-base64"},
            {"Authorization": "Basic \u00e9t\u00e9".encode("latin-1")},
        ):
            answer = client.request(method, path, headers=headers)
            assert answer.status_code == 401, (path, headers)
            assert "Bearer" in answer.headers["www-authenticate"]
            assert answer.json() == {"error": "a valid Bearer token or X-API-KEY is required"}

    @pytest.mark.parametrize(
        "headers",
        [
            {"Authorization": f"Bearer {API_TOKEN}"},
            {"authorization": f"bearer {API_TOKEN}"},
            {"X-API-KEY": API_TOKEN},
            {"Authorization": basic(API_TOKEN)},
        ],
        ids=["bearer", "lowercase-bearer", "x-api-key", "basic-password"],
    )
    def test_a_valid_token_in_any_accepted_form_passes(
        self, serve: Serve, headers: dict[str, str]
    ) -> None:
        """Bearer, X-API-KEY and a browser's Basic password all open the API and the page."""
        client = serve("")
        assert client.get("/api/v1/alerts", headers=headers).status_code == 200
        assert client.get("/", headers=headers).status_code == 200
        assert client.get("/admin", headers=headers).status_code == 404

    @pytest.mark.parametrize("path", PUBLIC)
    def test_health_checks_and_metrics_need_no_token_by_default(
        self, serve: Serve, path: str
    ) -> None:
        """/healthz, /readyz and /metrics answer without a token."""
        assert serve("").get(path).status_code in (200, 503)

    def test_metrics_auth_token_protects_metrics(self, serve: Serve) -> None:
        """metrics_auth: token: /metrics is 401 without a token, 200 with one."""
        client = serve("  metrics_auth: token\n")
        assert client.get("/metrics").status_code == 401
        answer = client.get("/metrics", headers={"X-API-KEY": API_TOKEN})
        assert answer.status_code == 200 and "backlog_open_tickets" in answer.text
        assert client.get("/healthz").status_code == 200

    def test_status_page_auth_none_opens_only_the_page(self, serve: Serve) -> None:
        """status_page_auth: none serves / without a token; the API still needs one."""
        client = serve("  status_page_auth: none\n")
        assert client.get("/").status_code == 200
        assert client.get("/api/v1/alerts").status_code == 401

    def test_no_token_configured_refuses_everything_protected(self, serve: Serve) -> None:
        """Without any token the API is closed, not open: even an empty Bearer fails."""
        client = serve(None)
        for headers in ({}, {"Authorization": "Bearer "}, {"X-API-KEY": ""}):
            assert client.get("/api/v1/alerts", headers=headers).status_code == 401
            assert client.get("/", headers=headers).status_code == 401
        assert client.get("/metrics").status_code == 200


class TestTokenSettings:
    def base(self, http: str) -> str:
        return f'http:\n  listen: "127.0.0.1:9464"\n{http}'

    def test_tokens_are_read_from_files_once(self, tmp_path: Path) -> None:
        """api_token_files: each file's stripped content is one more accepted token."""
        first, second = tmp_path / "a", tmp_path / "b"
        first.write_text("file-token-aaaaaaaaaaaa\n", encoding="utf-8")
        second.write_text("file-token-bbbbbbbbbbbb", encoding="utf-8")
        settings = load_settings(
            text=self.base(f"  api_tokens: [inline-token]\n  api_token_files: [{first}, {second}]")
        )
        assert [t.get_secret_value() for t in settings.http.api_tokens] == [
            "inline-token",
            "file-token-aaaaaaaaaaaa",
            "file-token-bbbbbbbbbbbb",
        ]
        assert settings.http.api_token_files == []

    @pytest.mark.parametrize(
        ("http", "message"),
        [
            ("  api_token_files: [MISSING]", "cannot read api_token_file"),
            ('  api_tokens: ["two words"]', "printable ASCII without spaces"),
            ('  api_tokens: [""]', "printable ASCII without spaces"),
            ("  metrics_auth: token", "metrics_auth: token needs api_tokens"),
            ("  status_page_auth: open", "Input should be 'token' or 'none'"),
        ],
    )
    def test_bad_token_settings_fail_at_start_with_their_path(
        self, tmp_path: Path, http: str, message: str
    ) -> None:
        """Each bad token setting is a ConfigError naming ``http``, without the token."""
        text = self.base(http.replace("MISSING", str(tmp_path / "nope")))
        with pytest.raises(ConfigError) as caught:
            load_settings(text=text)
        assert caught.value.problems[0][0].startswith("http")
        assert message in str(caught.value)
        assert "two words" not in str(caught.value)


class TestOpenApi:
    def test_the_description_lists_every_route_and_needs_a_token(self, serve: Serve) -> None:
        """/openapi.json (token needed) names every served path and method; public ones
        carry no security requirement, the others a 401 answer."""
        client = serve("")
        assert client.get("/openapi.json").status_code == 401
        document = client.get("/openapi.json", headers={"X-API-KEY": API_TOKEN}).json()
        assert document["openapi"] == "3.1.0"
        served = {
            (route.path.replace(":path}", "}"), method.lower())
            for route in client.app.routes  # type: ignore[attr-defined]
            for method in route.methods - {"HEAD"}
        }
        described = {(p, m) for p, item in document["paths"].items() for m in item}
        assert described == served
        paths = document["paths"]
        assert paths["/metrics"]["get"]["security"] == []
        assert "security" not in paths["/api/v1/alerts"]["get"]
        assert paths["/api/v1/alerts"]["get"]["summary"].startswith("Alert instances")
        scaling = paths["/api/v1/queues/{queue}/scaling"]["get"]
        assert scaling["parameters"][0]["name"] == "queue" and "401" in scaling["responses"]
