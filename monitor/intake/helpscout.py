"""Help Scout webhooks: ``X-HelpScout-Signature: <base64 HMAC-SHA1 of the raw body>``.

The secret is the one typed into the Webhooks app. Help Scout sends no delivery id and no
timestamp, so the signature (which stands for the body) identifies a delivery: the same
body again within the replay window is a replay. ``X-HelpScout-Event`` names the event;
the app's "test" button sends ``helpscout.test``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

from monitor.intake.base import Verdict


class HelpScoutSignature:
    kind = "helpscout"

    def verify(self, key: bytes, body: bytes, headers: Mapping[str, str]) -> Verdict:
        given = headers.get("x-helpscout-signature", "").strip()
        if not given:
            return "missing_signature"
        expected = base64.b64encode(hmac.new(key, body, hashlib.sha1).digest())
        if hmac.compare_digest(given.encode("ascii", "replace"), expected):
            return "ok"
        return "bad_signature"

    def delivery(self, headers: Mapping[str, str]) -> str:
        return f"signature:{headers['x-helpscout-signature'].strip()}"

    def is_ping(self, headers: Mapping[str, str]) -> bool:
        return headers.get("x-helpscout-event", "") == "helpscout.test"
