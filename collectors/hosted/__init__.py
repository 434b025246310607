"""The HTTP layer every hosted help-desk collector shares.

``budget`` keeps a source within its plan (requests per minute, daily credits, the
store's own remaining-quota headers, ``Retry-After``); ``client`` sends the requests
(one ``requests.Session`` per source, timeouts, bounded retries with jitter, typed
errors, per-endpoint counts); ``config`` holds the settings every hosted source has and
the cost of one poll checked against the plan at start-up.
"""

from __future__ import annotations

from collectors.hosted.budget import Budget
from collectors.hosted.client import Auth, HttpClient, HttpStats, NoAuth, QuotaHeaders
from collectors.hosted.config import HostedSourceConfig, PlanBudget, PollCost

__all__ = [
    "Auth",
    "Budget",
    "HostedSourceConfig",
    "HttpClient",
    "HttpStats",
    "NoAuth",
    "PlanBudget",
    "PollCost",
    "QuotaHeaders",
]
