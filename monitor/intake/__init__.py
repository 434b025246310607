"""Webhook intake: verified pushes from a store trigger an early poll of its source.

Polling stays the source of truth: an event carries no figure the daemon stores, it
only brings the source's next poll forward (debounced and coalesced, see
:mod:`monitor.intake.early`). See docs/hosted.md, "Webhook intake".
"""

from __future__ import annotations

from monitor.intake.base import SignatureScheme, Verdict
from monitor.intake.github import GitHubSignature
from monitor.intake.helpscout import HelpScoutSignature

SCHEMES: dict[str, SignatureScheme] = {
    scheme.kind: scheme for scheme in (GitHubSignature(), HelpScoutSignature())
}
"""The signature scheme of each source kind that can push."""

__all__ = ["SCHEMES", "SignatureScheme", "Verdict"]
