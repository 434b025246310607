"""Ticket-store collectors, one plugin per module, registered explicitly below."""

from __future__ import annotations

from collectors.base import Collector, QueueStats, Snapshot, Window
from collectors.freshdesk import FreshdeskCollector, FreshdeskConfig
from collectors.fxiaoke import FxiaokeCollector, FxiaokeConfig
from collectors.github import GitHubCollector, GitHubConfig
from collectors.gitlab import GitLabCollector, GitLabConfig
from collectors.helpscout import HelpScoutCollector, HelpScoutConfig
from collectors.jira import JiraCollector, JiraConfig
from collectors.servicenow import ServiceNowCollector, ServiceNowConfig
from collectors.sql import SqlCollector, SqlSourceConfig
from collectors.udesk import UdeskCollector, UdeskConfig
from collectors.zendesk import ZendeskCollector, ZendeskConfig
from collectors.zohodesk import ZohoDeskCollector, ZohoDeskConfig

REGISTRY: dict[str, type[Collector]] = {
    "sql": SqlCollector,
    "zohodesk": ZohoDeskCollector,
    "zendesk": ZendeskCollector,
    "jira": JiraCollector,
    "freshdesk": FreshdeskCollector,
    "servicenow": ServiceNowCollector,
    "helpscout": HelpScoutCollector,
    "udesk": UdeskCollector,
    "fxiaoke": FxiaokeCollector,
    "github": GitHubCollector,
    "gitlab": GitLabCollector,
}
"""Every collector kind, by the ``kind`` its configuration names."""

SourceConfig = (
    SqlSourceConfig
    | ZohoDeskConfig
    | ZendeskConfig
    | JiraConfig
    | FreshdeskConfig
    | ServiceNowConfig
    | HelpScoutConfig
    | UdeskConfig
    | FxiaokeConfig
    | GitHubConfig
    | GitLabConfig
)
"""The configuration of one source: a union discriminated by ``kind``."""

__all__ = ["REGISTRY", "Collector", "QueueStats", "Snapshot", "SourceConfig", "Window"]
