"""The API token gate: every HTTP path needs a token except the health checks and, unless
configured otherwise, ``/metrics``.

A token is accepted as ``Authorization: Bearer <token>``, as ``X-API-KEY: <token>``, or as
the password of ``Authorization: Basic`` (so a browser can open the status page: it asks
for a user name, which is ignored, and the token). Tokens are compared with
:func:`hmac.compare_digest`, one comparison per configured token whatever matches, so the
time taken does not say which token or how much of it was right.

The gate answers before routing: an unknown path without a token is 401, not 404, so
the API's shape is not disclosed to callers without a token.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Sequence

from pydantic import SecretStr
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from config.settings import HttpSettings

ALWAYS_PUBLIC = frozenset({"/healthz", "/readyz"})
REFUSAL = "a valid Bearer token or X-API-KEY is required"
CHALLENGE = 'Bearer realm="backlog-monitor", Basic realm="backlog-monitor", charset="UTF-8"'


def public_paths(http: HttpSettings) -> frozenset[str]:
    """The paths served without a token under these settings."""
    public = set(ALWAYS_PUBLIC)
    if http.metrics_auth == "none":
        public.add("/metrics")
    if http.status_page_auth == "none":
        public.add("/")
    public.update(intake.path for intake in http.intake)  # signed by the store instead
    return frozenset(public)


def presented_token(headers: Headers) -> str:
    """The token a request carries (empty when it carries none)."""
    auth = headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except ValueError:  # not base64 (binascii.Error), not ASCII, not UTF-8
            return ""
        return decoded.partition(":")[2]
    return headers.get("x-api-key", "")


def token_matches(given: str, tokens: Sequence[SecretStr]) -> bool:
    """Whether ``given`` is one of ``tokens`` (constant time; no tokens: never)."""
    encoded = given.encode("utf-8", "replace")
    found = False
    for token in tokens:  # no early exit: every token is compared every time
        found |= hmac.compare_digest(encoded, token.get_secret_value().encode("utf-8"))
    return found and bool(given)


class TokenGate:
    """ASGI middleware refusing requests without a valid token (401, JSON body)."""

    def __init__(self, app: ASGIApp, http: HttpSettings) -> None:
        self.app = app
        self.tokens = list(http.api_tokens)
        self.public = public_paths(http)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.public:
            await self.app(scope, receive, send)
            return
        if token_matches(presented_token(Headers(scope=scope)), self.tokens):
            await self.app(scope, receive, send)
            return
        refusal = JSONResponse(
            {"error": REFUSAL}, status_code=401, headers={"WWW-Authenticate": CHALLENGE}
        )
        await refusal(scope, receive, send)
