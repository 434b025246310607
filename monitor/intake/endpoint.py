"""``POST /intake/<source>``: verify a store's webhook, then bring the source's poll forward.

Answers: 413 when the body is over ``max_body`` (read no further), 401 when the
signature is missing or wrong, 200 for a replayed delivery or a test event (no poll),
202 when the event asks for an early poll or joins one already pending. Every delivery is
counted in ``backlog_intake_events_total{source,result}``. Neither the secret nor the
signature a request carries is logged or answered.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from config.intake import IntakeSettings
from monitor.intake import SCHEMES, SignatureScheme
from monitor.intake.early import EarlyPolls, SeenDeliveries

log = logging.getLogger(__name__)

Count = Callable[[str, str], None]
Wake = Callable[[str, datetime], None]


class TooLarge(Exception):
    """The body is over the configured limit."""


class IntakeEndpoint:
    """One source's intake endpoint (a Starlette handler)."""

    def __init__(
        self,
        config: IntakeSettings,
        scheme: SignatureScheme,
        clock: Callable[[], datetime],
        count: Count,
        wake: Wake,
    ) -> None:
        self.config = config
        self.scheme = scheme
        self.clock = clock
        self.count = count
        self.wake = wake
        self.early = EarlyPolls(config.delay, config.min_gap)
        self.seen = SeenDeliveries(config.replay_window)
        self._lock = threading.Lock()

    def route(self) -> Route:
        return Route(self.config.path, self.handle, methods=["POST"])

    async def handle(self, request: Request) -> Response:
        """A store's webhook (signed, no token): the source is polled early."""
        source = self.config.source
        try:
            body = await self._body(request)
        except TooLarge:
            return self._answer("too_large", 413, f"the body is over {self.config.max_body} bytes")
        headers = {name.lower(): value for name, value in request.headers.items()}
        verdict = self.scheme.verify(self.config.key(), body, headers)
        if verdict != "ok":
            log.warning("webhook for %s refused: %s", source, verdict, extra={"source": source})
            return self._answer(verdict, 401, "a valid signature is required")
        now = self.clock()
        with self._lock:
            if not self.seen.first_time(self.scheme.delivery(headers), now):
                return self._answer("replayed", 200, "this delivery was already received")
            if self.scheme.is_ping(headers):
                return self._answer("ping", 200, "ok")
            at = self.early.request(source, now)
        if at is None:
            return self._answer("coalesced", 202, "a poll is already due")
        self.wake(source, at)
        log.info("webhook for %s: polling at %s", source, at.isoformat(), extra={"source": source})
        return self._answer("accepted", 202, "polling early", poll_at=at.isoformat())

    async def _body(self, request: Request) -> bytes:
        limit = self.config.max_body
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            raise TooLarge
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise TooLarge
        return bytes(body)

    def _answer(self, result: str, status: int, message: str, **extra: str) -> Response:
        self.count(self.config.source, result)
        return JSONResponse({"result": result, "message": message, **extra}, status_code=status)


def intake_routes(
    intakes: list[IntakeSettings],
    kinds: dict[str, str],
    clock: Callable[[], datetime],
    count: Count,
    wake: Wake,
) -> list[Route]:
    """The routes of the configured intakes; ``kinds`` maps source names to kinds (the
    configuration check has made sure each intake names a source that can push)."""
    return [
        IntakeEndpoint(intake, SCHEMES[kinds[intake.source]], clock, count, wake).route()
        for intake in intakes
    ]
