"""Fakes shared by the tests: a clock, a recording webhook receiver, a scripted collector."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

from pydantic import BaseModel

from collectors.base import Snapshot, Window
from monitor.clock import FakeClock

__all__ = ["T0", "FakeClock", "Received", "RecordingReceiver", "ScriptedCollector"]

T0 = datetime(2016, 3, 21, 12, 0, tzinfo=UTC)
"""A fixed instant tests start from."""


@dataclass
class Received:
    """One request the receiver got."""

    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class RecordingReceiver:
    """A real HTTP server on 127.0.0.1 that records POSTs and answers ``status``.

    Set ``status`` to 503 to play a receiver that is down, back to 204 when it is up.
    Set ``hold`` to an unset event to play a slow receiver: each request waits for the
    event (its ``webhook-id`` noted in ``held``) before it is recorded and answered.
    """

    status: int = 204
    headers: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    attempts: int = 0
    hold: threading.Event | None = None
    held: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.attempts += 1
                gate = receiver.hold
                if gate is not None:
                    receiver.held.append(self.headers.get("webhook-id", ""))
                    gate.wait(timeout=600)  # a hang guard; tests set it
                status = receiver.status
                if 200 <= status < 300:
                    receiver.received.append(Received(dict(self.headers.items()), body))
                self.send_response(status)
                for k, v in receiver.headers.items():
                    self.send_header(k, v)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hook"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class ScriptedCollector:
    """A collector whose answers the test decides: a function of the window, or an error."""

    kind: ClassVar[str] = "scripted"
    config_model: ClassVar[type[BaseModel]] = BaseModel

    def __init__(self, name: str, answer: Callable[[Window], Snapshot]) -> None:
        self._name = name
        self.answer = answer
        self.windows: list[Window] = []
        self.error: Exception | None = None

    @property
    def name(self) -> str:
        return self._name

    def collect(self, window: Window) -> Snapshot:
        self.windows.append(window)
        if self.error is not None:
            raise self.error
        return self.answer(window)

    def close(self) -> None:
        return None
