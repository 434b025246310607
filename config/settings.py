"""The daemon's whole configuration: one frozen, validated model, loaded once at start.

Sources, by priority: environment variables ``BACKLOG_MONITOR_...`` (``__`` separates
nesting levels, e.g. ``BACKLOG_MONITOR_STORE__URL``; lists take JSON), then the YAML
file given with ``--config``, then the defaults written here. Unknown keys are errors.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from alerting.destinations import AllowList
from alerting.notifiers import ReceiverConfig
from alerting.resourcing.config import ResourcingConfig
from alerting.routing import Route
from alerting.rules import Rule
from alerting.timeintervals import TimeInterval
from collectors import SourceConfig
from config.durations import Duration
from config.intake import IntakeSettings
from config.lease import LeaseSettings
from config.secrets import resolve_secret
from monitor.report.config import ReportSettings

Frozen = ConfigDict(frozen=True, extra="forbid")


class StoreSettings(BaseModel):
    """Where history, alert state and the outbox live."""

    model_config = Frozen

    url: str = Field(
        "sqlite:///backlog-monitor.db",
        description="SQLAlchemy URL: a SQLite file (default) or postgresql+psycopg://...",
    )
    raw_retention: Duration = timedelta(hours=48)
    rollup_retention: Duration = timedelta(days=90)
    maintenance_interval: Duration = timedelta(minutes=10)


class HttpSettings(BaseModel):
    """The HTTP listener serving /metrics, /healthz and /readyz."""

    # hide_input_in_errors: a validation error must not echo a token it was given.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    listen: str = "127.0.0.1:9464"
    external_url: str = Field("", description="how people reach this daemon, for links")
    api_tokens: list[SecretStr] = Field(
        default_factory=list,
        description="tokens accepted (Bearer, X-API-KEY or a Basic password) on every "
        "endpoint except the health checks and, unless metrics_auth is token, /metrics",
    )
    api_token_files: list[Path] = Field(
        default_factory=list,
        description="files each holding one more token, read once at start-up",
    )
    metrics_auth: Literal["none", "token"] = Field(
        "none", description="token: /metrics needs a token too (Prometheus authorization)"
    )
    status_page_auth: Literal["token", "none"] = Field(
        "token", description="none: the status page at / is served without a token"
    )
    intake: list[IntakeSettings] = Field(
        default_factory=list,
        description="webhook endpoints POST /intake/<source> (Help Scout, GitHub), signed "
        "by the store instead of a token; none by default",
    )

    @model_validator(mode="after")
    def _tokens(self) -> HttpSettings:
        tokens = list(self.api_tokens)
        for path in self.api_token_files:
            token = resolve_secret(None, path, "api_token", required=True)
            tokens.append(token or SecretStr(""))
        for token in tokens:
            text = token.get_secret_value()
            if not text or not text.isascii() or not text.isprintable() or " " in text:
                raise ValueError("an API token must be printable ASCII without spaces")
        if self.metrics_auth == "token" and not tokens:
            raise ValueError("metrics_auth: token needs api_tokens or api_token_files")
        object.__setattr__(self, "api_tokens", tokens)
        object.__setattr__(self, "api_token_files", [])
        return self

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError("expected HOST:PORT, e.g. 127.0.0.1:9464")
        return value

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class CollectorDownSettings(BaseModel):
    """The built-in ``CollectorDown`` alert: a source whose latest poll failed."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    enabled: bool = True
    for_: Duration = Field(timedelta(minutes=5), alias="for")
    severity: Literal["critical", "warning", "info"] = "warning"


class EvaluationSettings(BaseModel):
    """How often rules are evaluated."""

    model_config = Frozen

    interval: Duration = timedelta(seconds=60)
    collector_down: CollectorDownSettings = CollectorDownSettings()
    resolved_retention: Duration = Field(
        timedelta(days=1), description="how long resolved alert instances are kept"
    )


class DeliverySettings(BaseModel):
    """How the outbox delivers notifications."""

    model_config = Frozen

    interval: Duration = timedelta(seconds=5)
    schedule: Literal["standard_webhooks", "exponential"] = Field(
        "standard_webhooks",
        description="standard_webhooks: retry after 5s, 5m, 30m, 2h, 5h, 10h, 14h, 20h, 24h, "
        "then dead-letter; exponential: initial_backoff doubling up to max_backoff until "
        "give_up_after",
    )
    breaker_threshold: int = Field(
        5, ge=1, description="consecutive failures that open a receiver's circuit breaker"
    )
    breaker_cooldown: Duration = Field(
        timedelta(minutes=5), description="how long an open breaker holds a receiver's messages"
    )
    initial_backoff: Duration = timedelta(seconds=5)
    max_backoff: Duration = timedelta(minutes=30)
    give_up_after: Duration = timedelta(days=3)
    batch: int = Field(100, ge=1)
    allowed_destinations: list[str] = Field(
        default_factory=list,
        description="networks (10.0.0.0/8, 127.0.0.1) and host names (*.example.com) "
        "receivers may be reached at; empty: any but loopback, link-local and metadata "
        "addresses, which only a listed network opens",
    )

    @field_validator("allowed_destinations")
    @classmethod
    def _destinations(cls, value: list[str]) -> list[str]:
        AllowList.parse(value)
        return value


class ForecastingSettings(BaseModel):
    """Per-queue forecasts (see docs/forecasting.md)."""

    model_config = Frozen

    enabled: bool = True
    interval: Duration = Field(timedelta(hours=1), description="how often forecasts refresh")
    reselect_every: Duration = Field(
        timedelta(hours=24),
        description="ignored (kept so older configs load): models are re-selected every hour",
    )
    history: Duration = Field(
        timedelta(days=21), description="hourly history read when estimating (at least 14 d)"
    )
    window: Duration = Field(
        timedelta(hours=168),
        description="recent forecasts each model is scored and calibrated on",
    )
    save_every: Duration = Field(
        timedelta(hours=24),
        description="how often each queue's forecast state is saved (a restart replays the rest)",
    )
    level: float = Field(0.8, gt=0, lt=1, description="nominal coverage of the bands")
    workers: int = Field(
        0, ge=0, description="ignored (kept so older configs load): forecasting is one cheap pass"
    )
    warning_model: Literal["warning", "combo", "selected"] = Field(
        "warning",
        description="model whose calibrated paths give forecast rules' breach probabilities",
    )
    match: dict[str, str] = Field(
        default_factory=dict, description="forecast only these queues (source, queue)"
    )
    burst_jump: float | None = Field(
        None,
        gt=0,
        description=(
            "a forecast rule looks twice as far ahead on a queue whose open count rose by this"
            " share of the rule's limit within 6 h in its last week (null: never)"
        ),
    )
    calibration_prior: float | None = Field(
        None,
        gt=0,
        description=(
            "calibrate each breach probability on the queue's own past forecasts, shrunk"
            " to the uncalibrated value with this many pseudo-observations per bin"
            " (null: uncalibrated)"
        ),
    )
    calibration_memory: Duration | None = Field(
        None,
        description=(
            "with calibration_prior: calibrate on decayed reliability counts kept per"
            " queue and forecast rule with this half-life (e.g. 6w), shrunk towards the"
            " map pooled over queues (null: on the last window of forecasts only)"
        ),
    )
    ets_estimation: Literal["heuristic", "joint"] = Field(
        "heuristic",
        description=(
            "how daily ETS is estimated: heuristic initial states, weekly (cheapest), or"
            " initial states estimated with the parameters as a full refit does, daily"
            " (joint)"
        ),
    )

    @field_validator("calibration_memory")
    @classmethod
    def _positive_memory(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError("calibration_memory must be positive")
        return value


class SchedulerSettings(BaseModel):
    """APScheduler job settings."""

    model_config = Frozen

    jitter: Duration = Field(timedelta(seconds=2), description="random delay added to each run")
    retry_backoff_max: Duration = Field(
        timedelta(minutes=5), description="longest wait between polls of a failing source"
    )


class BackfillSettings(BaseModel):
    """Hourly history reconstructed from the ticket stores on start (docs/backfill.md)."""

    model_config = Frozen

    since: Duration | None = Field(
        None,
        description="on start, before the first forecast, fill the hours of this long"
        " back that the store has no rollups for (e.g. 90d); off when not set",
    )
    chunk: Duration = Field(
        timedelta(days=30),
        le=timedelta(days=40),
        description="hours read per statement (and committed together); at most 40d"
        " (MySQL's recursive CTEs stop at 1000 rows)",
    )

    @field_validator("since", "chunk")
    @classmethod
    def _whole_hours(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and (value < timedelta(hours=1) or value % timedelta(hours=1)):
            raise ValueError("must be a positive whole number of hours, e.g. 90d")
        return value


class Settings(BaseSettings):
    """Everything the daemon needs; see ``config/examples/`` and the README."""

    model_config = SettingsConfigDict(
        env_prefix="BACKLOG_MONITOR_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    store: StoreSettings = StoreSettings()
    http: HttpSettings = HttpSettings()
    evaluation: EvaluationSettings = EvaluationSettings()
    delivery: DeliverySettings = DeliverySettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    forecasts: ForecastingSettings = ForecastingSettings()
    sources: list[Annotated[SourceConfig, Field(discriminator="kind")]] = Field(
        default_factory=list
    )
    rules: list[Rule] = Field(default_factory=list)
    receivers: list[Annotated[ReceiverConfig, Field(discriminator="kind")]] = Field(
        default_factory=list
    )
    route: Route | None = Field(
        None,
        description="Alertmanager-style routing and grouping; without it every "
        "transition is sent to the rule's receivers (all by default)",
    )
    time_intervals: list[TimeInterval] = Field(default_factory=list)
    resourcing: list[ResourcingConfig] = Field(default_factory=list)
    backfill: BackfillSettings = BackfillSettings()
    report: ReportSettings = ReportSettings()
    lease: LeaseSettings = LeaseSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The YAML file arrives as init kwargs; the environment overrides it.
        return env_settings, init_settings
