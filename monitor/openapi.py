"""``GET /openapi.json``: an OpenAPI 3.1 description of the HTTP app, built from its routes.

Paths, methods and path parameters come from the Starlette routes themselves, and each
operation's summary from its handler's docstring, so the description cannot drift from
what is served. Bodies and answers are described in README.md and docs/, not here. The
document needs a token like the API (it describes the API's shape).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from starlette.routing import BaseRoute, Route

from config.settings import HttpSettings
from monitor.auth import public_paths

SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-KEY"},
    "basic": {"type": "http", "scheme": "basic", "description": "the token as password"},
}
_PARAM = re.compile(r"{(\w+)(?::\w+)?}")


def describe(routes: Iterable[BaseRoute], http: HttpSettings) -> dict[str, Any]:
    """The OpenAPI document of ``routes`` under these HTTP settings."""
    public = public_paths(http)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if not isinstance(route, Route):
            continue
        path = _PARAM.sub(r"{\1}", route.path)
        item = paths.setdefault(path, {})
        for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
            operation: dict[str, Any] = {
                "summary": _summary(route),
                "responses": {"200": {"description": "OK"}},
            }
            names = _PARAM.findall(route.path)
            if names:
                operation["parameters"] = [
                    {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                    for n in names
                ]
            if route.path in public:
                operation["security"] = []
            else:
                operation["responses"]["401"] = {"description": "no valid token"}
            item[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "backlog-monitor", "version": "1"},
        "paths": paths,
        "components": {"securitySchemes": SECURITY_SCHEMES},
        "security": [{name: []} for name in SECURITY_SCHEMES],
    }


def _summary(route: Route) -> str:
    doc = (getattr(route.endpoint, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else route.path
