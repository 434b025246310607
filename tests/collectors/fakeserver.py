"""A local HTTP server on 127.0.0.1 that plays a hosted help desk, with faults on demand.

Each store's app (``tests/collectors/stores/``) answers the documented requests from
ticket data; the server counts every request and can be told to answer the next ones
matching a path with a status (429 with ``Retry-After``, 401, 503...), with headers
(quota left), with a body that is not JSON, or not at all (the client times out: the
handler holds the request until the server stops, no sleep involved).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Call:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter ``name``."""
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


@dataclass(frozen=True)
class Reply:
    """An answer: status, headers and a JSON-able body (None: no body)."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Fault:
    """Answer the next ``times`` requests to ``path`` (every path when empty) this way."""

    kind: Literal["status", "timeout", "malformed"] = "status"
    status: int = 503
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    path: str = ""
    times: int = 1


App = Callable[[Call], Reply]


class FakeServer:
    """A threaded HTTP server running ``app``; use as a context manager."""

    def __init__(self, app: App, headers: Callable[[Call], dict[str, str]] | None = None):
        self.app = app
        self.extra_headers = headers or (lambda _call: {})
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: the client reuses its connection
            disable_nagle_algorithm = True  # headers and body go out at once, no 40 ms stall

            def do_GET(self) -> None:
                server._handle(self)

            def do_POST(self) -> None:
                server._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def inject(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def paths(self) -> list[str]:
        """``METHOD path`` of every request, in order."""
        return [f"{c.method} {c.path}" for c in self.calls]

    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def _fault_for(self, call: Call) -> Fault | None:
        with self._lock:
            self.calls.append(call)
            for fault in self.faults:
                if fault.path in ("", call.path) and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        call = Call(
            handler.command,
            parts.path,
            parse_qs(parts.query, keep_blank_values=True),
            dict(handler.headers.items()),
            handler.rfile.read(length) if length else b"",
        )
        fault = self._fault_for(call)
        if fault is not None and fault.kind == "timeout":
            self._release.wait()
            return
        if fault is not None and fault.kind == "malformed":
            reply = Reply(200, None)
            raw = b'{"data": [ truncated'
        else:
            reply = (
                self.app(call) if fault is None else Reply(fault.status, fault.body, fault.headers)
            )
            raw = b"" if reply.body is None else json.dumps(reply.body).encode()
        try:
            handler.send_response(reply.status)
            for name, value in {**self.extra_headers(call), **reply.headers}.items():
                handler.send_header(name, value)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(raw)))
            handler.end_headers()
            handler.wfile.write(raw)
        except OSError:  # the client gave up (a timeout case): nothing to answer
            pass
