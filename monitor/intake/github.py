"""GitHub webhooks: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>``.

The secret is the webhook's (or the GitHub App's) secret. Each delivery has a GUID in
``X-GitHub-Delivery``; ``X-GitHub-Event: ping`` is sent when the hook is created.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from monitor.intake.base import Verdict

PREFIX = "sha256="


class GitHubSignature:
    kind = "github"

    def verify(self, key: bytes, body: bytes, headers: Mapping[str, str]) -> Verdict:
        given = headers.get("x-hub-signature-256", "").strip()
        if not given:
            return "missing_signature"
        expected = PREFIX + hmac.new(key, body, hashlib.sha256).hexdigest()
        if hmac.compare_digest(given.encode("ascii", "replace"), expected.encode("ascii")):
            return "ok"
        return "bad_signature"

    def delivery(self, headers: Mapping[str, str]) -> str:
        # Without a GUID the signature stands for the body: the same body again is a replay.
        guid = headers.get("x-github-delivery", "").strip()
        return f"delivery:{guid}" if guid else f"signature:{headers['x-hub-signature-256']}"

    def is_ping(self, headers: Mapping[str, str]) -> bool:
        return headers.get("x-github-event", "") == "ping"
