"""A local webhook receiver that verifies each delivery's signature and prints it."""

from __future__ import annotations

import hmac
import json
import threading
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

from alerting.notifiers.webhook import sign


class WebhookSink:
    """Listens on 127.0.0.1 (an ephemeral port) and calls ``on_delivery`` per valid delivery."""

    def __init__(self, key: bytes, on_delivery: Callable[[dict[str, Any], str], None]) -> None:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                msg_id = self.headers.get("webhook-id", "")
                stamp = self.headers.get("webhook-timestamp", "0")
                expected = sign(key, msg_id, int(stamp), body)
                given = self.headers.get("webhook-signature", "").split()
                if not any(hmac.compare_digest(expected, g) for g in given):
                    self.send_response(401)
                    self.end_headers()
                    return
                # Shown before the answer: once the daemon's send returns, the line is out,
                # so lines follow the order of delivery, not of the handler threads.
                on_delivery(json.loads(body), msg_id)
                sink.received.append(msg_id)
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.received: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hook"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def describe(payload: dict[str, Any], msg_id: str, zone: ZoneInfo) -> str:
    """One human line per notification."""
    if "type" in payload:  # a resourcing event (Standard Webhooks envelope)
        data = payload["data"]
        text = data.get("summary") or data.get("reason", "")
        return f"WEBHOOK {payload['type']}: {text} [webhook-id {msg_id}]"
    alert = payload["alerts"][0]
    labels, values = alert["labels"], alert.get("values", {})
    when = alert["endsAt"] if alert["status"] == "resolved" else alert["startsAt"]
    local = datetime.fromisoformat(when.replace("Z", "+00:00")).astimezone(zone)
    return (
        f"WEBHOOK {alert['status'].upper():8} {labels['alertname']} queue={labels['queue']} "
        f"at {local:%Y-%m-%d %H:%M} local: fired at {_num(values.get('fired'))}, "
        f"now {_num(values.get('current'))} | {alert['annotations'].get('summary', '')} "
        f"{_rebalance(alert)}[webhook-id {msg_id}]"
    )


def _rebalance(alert: dict[str, Any]) -> str:
    """The WIP alert's rebalancing suggestion, when it carries one."""
    text = alert["annotations"].get("rebalance")
    return f"| rebalance: {text} " if text else ""


def _num(value: object) -> str:
    return f"{value:.1f}" if isinstance(value, float | int) else "n/a"
