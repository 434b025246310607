"""Recognisable secrets planted in every credential field never come out anywhere.

Every credential the configuration can hold gets a marked value: the SQL sources' DSN
passwords (inline and from a file), the webhook's signing secret and a custom header,
the Slack URL's token, the PagerDuty routing key, the Alertmanager bearer token and the
API token. Then every error path is provoked: configuration errors around them, a store
that refuses the connection, one that rejects the password, one whose mapping is wrong,
receivers that answer with an error page echoing back everything they were sent, and
wrong API tokens. Everything the daemon then exposes is searched: the log (every record,
its extra fields and traceback), error messages, /metrics, every API answer, the status
page, /readyz, and every row of every table of the store.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from config.loader import load_settings
from monitor import logs
from monitor.checks import check_sources
from monitor.daemon import Daemon
from monitor.errors import ConfigError
from monitor.http import build_app
from monitor.logs import KeyValueFormatter
from tests.fakes import T0, FakeClock
from tests.monitor.test_daemon import TestClient, registry_for

WEBHOOK_KEY = b"webhookPLANTEDkey-0123456789abcdef"
PLANTED = {
    "dsn password": "dsnPLANTEDpw4821",
    "dsn password from a file": "filePLANTEDpw3390",
    "mariadb password": "mariaPLANTEDpw7314",
    "mapped dsn password": "pgPLANTEDpw5092",
    "webhook secret": "whsec_" + base64.b64encode(WEBHOOK_KEY).decode(),
    "webhook secret key": base64.b64encode(WEBHOOK_KEY).decode(),
    "webhook header": "hdrPLANTEDauth6610",
    "slack token": "slackPLANTEDtoken9301",
    "pagerduty key": "pdPLANTEDroutingkey0000000000000",
    "alertmanager token": "amPLANTEDbearer5531",
    "api token": "apiPLANTEDtoken7702",
}
MAPPING = (
    "{table: tickets, queue: queue, status: status, created_at: created_at, open_statuses: [open]}"
)


class EchoingReceiver:
    """A hostile receiver: 400 with everything it was sent (path, headers, body) echoed."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                echo = {
                    "status": "invalid event",
                    "message": self.path,
                    "errors": [str(dict(self.headers.items())), body.decode()],
                }
                answer = json.dumps(echo).encode()
                self.send_response(400)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Echo", self.path)
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def production_logging(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """The daemon's own logging set-up at DEBUG, every record also captured by ``caplog``."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    logs.configure("DEBUG")
    root.addHandler(caplog.handler)
    yield caplog
    root.handlers[:] = handlers
    root.setLevel(level)
    for name in ("alembic", "uvicorn", "urllib3", "apscheduler"):
        logging.getLogger(name).setLevel(logging.NOTSET)


@pytest.fixture
def echo() -> Iterator[EchoingReceiver]:
    server = EchoingReceiver()
    yield server
    server.close()


def config_text(echo: str, mariadb: str, postgres: str, url_file: Path) -> str:
    rejected = sa.engine.make_url(mariadb).set(password=PLANTED["mariadb password"])
    mapped = sa.engine.make_url(postgres).set(password=PLANTED["mapped dsn password"])
    p = PLANTED
    return f"""
http:
  listen: "127.0.0.1:9464"
  api_tokens: ["{p["api token"]}"]
evaluation:
  collector_down: {{for: 0s}}
delivery:
  schedule: exponential
  initial_backoff: 1s
  max_backoff: 1s
  allowed_destinations: ["127.0.0.1"]
sources:
  - kind: sql
    name: unreachable
    url: "postgresql+psycopg://reader:{p["dsn password"]}@127.0.0.1:1/helpdesk"
    timeout: 2s
    mapping: {MAPPING}
  - kind: sql
    name: from-file
    url_file: "{url_file}"
    timeout: 2s
    mapping: {MAPPING}
  - kind: sql
    name: rejected
    url: "{rejected.render_as_string(hide_password=False)}"
    mapping: {MAPPING}
  - kind: sql
    name: mapped-wrong
    url: "{mapped.render_as_string(hide_password=False)}"
    mapping: {MAPPING}
receivers:
  - kind: webhook
    name: hook
    url: "{echo}/hook"
    secret: "{p["webhook secret"]}"
    headers: {{Authorization: "Bearer {p["webhook header"]}"}}
  - kind: slack
    name: chat
    url: "{echo}/services/T000/B000/{p["slack token"]}"
  - kind: pagerduty
    name: pager
    url: "{echo}/v2/enqueue"
    routing_key: "{p["pagerduty key"]}"
  - kind: alertmanager
    name: am
    urls: ["{echo}"]
    bearer_token: "{p["alertmanager token"]}"
"""


def leaks(text: str) -> list[str]:
    """The planted secrets found in ``text`` (by name)."""
    return [name for name, secret in PLANTED.items() if secret in text]


def store_dump(engine: sa.Engine) -> str:
    """Every row of every table of the store, as text."""
    lines = []
    with engine.connect() as conn:
        for table in sa.inspect(conn).get_table_names():
            for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')):
                lines.append(f"{table}: {tuple(row)}")
    return "\n".join(lines)


@pytest.mark.postgres
@pytest.mark.mariadb
class TestPlantedSecrets:
    @pytest.fixture
    def config(
        self, echo: EchoingReceiver, mariadb_database: str, pg_database: str, tmp_path: Path
    ) -> str:
        url_file = tmp_path / "dsn"
        url_file.write_text(
            f"mysql+pymysql://reader:{PLANTED['dsn password from a file']}@127.0.0.1:1/x\n",
            encoding="utf-8",
        )
        return config_text(echo.url, mariadb_database, pg_database, url_file)

    def test_no_error_path_reveals_a_secret(
        self, config: str, tmp_path: Path, production_logging: pytest.LogCaptureFixture
    ) -> None:
        """Logs, errors, metrics, API answers, the page and the store hold no planted secret."""
        settings = load_settings(text=config)
        seen: dict[str, str] = {"settings repr": repr(settings) + str(settings)}
        with pytest.raises(ConfigError, match="table tickets does not exist") as startup:
            check_sources(settings)  # the mapped-wrong source stops the start
        seen["start-up checks"] = str(startup.value)
        clock = FakeClock(T0)
        store = sa.create_engine(f"sqlite:///{tmp_path}/history.db")
        daemon = Daemon(settings, clock=clock, engine=store, speedup=1e9)
        daemon.migrate()
        for _ in range(3):
            for source in daemon.source_names:
                daemon.poll(source)
            daemon.evaluate()
            daemon.deliver()
            clock.advance(timedelta(minutes=1))
        client = TestClient(build_app(daemon, registry_for(daemon)))
        token = {"X-API-KEY": PLANTED["api token"]}
        for path in (
            "/",
            "/metrics",
            "/readyz",
            "/api/v1/alerts",
            "/api/v1/silences",
            "/api/v1/forecasts",
        ):
            seen[path] = client.get(path, headers=token).text
        for wrong in ("apiPLANTEDtoken770", PLANTED["webhook header"], ""):
            refused = client.get("/api/v1/alerts", headers={"X-API-KEY": wrong})
            seen[f"refusal {wrong}"] = refused.text + str(dict(refused.headers))
        seen["store"] = store_dump(store)
        daemon.close()
        formatter = KeyValueFormatter()
        seen["log"] = "\n".join(formatter.format(r) for r in production_logging.records)

        assert {name: leaks(text) for name, text in seen.items() if leaks(text)} == {}
        # The error paths were really taken: each source failed its own way, each
        # receiver was refused, and the receivers got (and echoed) the secrets.
        down = seen["/metrics"]
        for source in ("unreachable", "from-file", "rejected", "mapped-wrong"):
            assert f'backlog_collector_up{{source="{source}"}} 0.0' in down
        for reason in ("unavailable", "auth", "mapping"):
            assert f'reason="{reason}"' in down
        assert "HTTP 400" in seen["store"] and "HTTP 400" in seen["log"]
        assert all(seen[f"refusal {w}"].startswith('{"error"') for w in ("", "apiPLANTEDtoken770"))

    @pytest.mark.parametrize(
        ("change", "expected"),
        [
            (("whsec_", "whsec_!"), "secret must be whsec_ followed by base64"),
            (("routing_key:", "routing_key_file: /nonexistent\n    routing_key:"), "at most one"),
            (('api_tokens: ["', 'api_tokens: ["bad token '), "printable ASCII"),
            (("listen:", "unknown_key: 1\n  listen:"), "unknown key"),
            (("kind: slack", "kind: slak"), "unknown kind"),
            (("urls: [", "urls: [1, "), "URL"),
        ],
        ids=["bad-webhook-secret", "two-routing-keys", "bad-token", "unknown-key", "kind", "url"],
    )
    def test_configuration_errors_name_the_field_not_the_secret(
        self, config: str, change: tuple[str, str], expected: str
    ) -> None:
        """A configuration error beside (or in) a secret names the problem, never the value."""
        with pytest.raises(ConfigError) as caught:
            load_settings(text=config.replace(*change))
        assert expected in str(caught.value)
        assert leaks(str(caught.value)) == []
