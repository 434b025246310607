"""How a help desk's schema maps onto ticket facts: columns, SQL expressions, joins, presets.

Every field of :class:`SqlMapping` is a column of the base table (``created_at``), a
column of a joined table (``g.name``), or an SQL expression over them
(``NULLIF(t.owner_id, 1)``). The base table is aliased ``t``. A ``preset`` fills every
field for a known help desk; any field given next to it overrides the preset's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from config.durations import Duration

IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
QUALIFIED = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*\.[A-Za-z_][A-Za-z0-9_$]*$")

TIME_FIELDS = (
    "created_at",
    "resolved_at",
    "first_response_at",
    "first_response_due_at",
    "resolution_due_at",
    "reopened_at",
)
DIMENSION_FIELDS = ("id", "queue", "status", "priority", "assignee")
PresetName = Literal["osticket", "zammad", "glpi", "otrs", "znuny", "rt"]


class Join(BaseModel):
    """A table joined to the ticket table (``t``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    table: str
    alias: str = Field(pattern=IDENT.pattern)
    on: str
    kind: Literal["left", "inner"] = "left"


class SqlMapping(BaseModel):
    """Where the ticket facts live; see the module docstring for the field syntax."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    preset: PresetName | None = None
    table_prefix: str = Field("", description="prefix of every table name of a preset (ost_)")
    table: str = Field(description="ticket table, optionally schema-qualified; aliased t")
    joins: tuple[Join, ...] = ()
    where: str | None = Field(None, description="rows to consider at all (exclusions)")
    id: str = "id"
    queue: str
    status: str
    priority: str | None = None
    assignee: str | None = None
    created_at: str
    resolved_at: str | None = None
    first_response_at: str | None = None
    first_response_due_at: str | None = None
    resolution_due_at: str | None = None
    reopened_at: str | None = None
    open_statuses: tuple[str | int, ...] | None = None
    open_sql: str | None = None
    epoch_fields: tuple[str, ...] = Field(
        (), description="time fields stored as unix seconds rather than DATETIME"
    )
    timezone: str = Field("UTC", description="time zone of naive DATETIME columns")
    at_risk_margin: Duration = Field(
        timedelta(hours=1), description="an SLA due within this margin is at risk"
    )
    sla_history: bool = Field(
        True,
        description="due columns keep their deadline once met or closed; False when the help"
        " desk clears them (Znuny), so SLA deadlines missed in a window are unknown",
    )

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        if not isinstance(data, Mapping) or not data.get("preset"):
            return data
        from collectors.presets import PRESETS  # the presets import this module

        name = str(data["preset"])
        if name not in PRESETS:
            return data  # the Literal check reports it
        prefix = str(data.get("table_prefix", PRESETS[name].get("table_prefix", "")))
        return {**_with_prefix(PRESETS[name], prefix), **data}

    @model_validator(mode="after")
    def _coherent(self) -> SqlMapping:
        if (self.open_statuses is None) == (self.open_sql is None):
            raise ValueError("give exactly one of open_statuses and open_sql")
        if self.open_statuses is not None and not self.open_statuses:
            raise ValueError("open_statuses must list at least one status")
        unknown = sorted(set(self.epoch_fields) - set(TIME_FIELDS))
        if unknown:
            raise ValueError(f"epoch_fields may only name {', '.join(TIME_FIELDS)}; got {unknown}")
        aliases = [j.alias for j in self.joins]
        if "t" in aliases or len(set(aliases)) != len(aliases):
            raise ValueError("join aliases must be unique and not 't'")
        return self

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    def expression(self, field: str) -> str | None:
        """The SQL text of a field, with bare column names qualified by ``t.``."""
        value = getattr(self, field)
        if value is None:
            return None
        text = str(value)
        return f"t.{text}" if IDENT.match(text) else text

    def column_refs(self) -> dict[str, tuple[str, str]]:
        """Fields that name a plain column: field -> (table, column), for schema checks."""
        tables = {"t": self.table, **{j.alias: j.table for j in self.joins}}
        refs: dict[str, tuple[str, str]] = {}
        for field in (*DIMENSION_FIELDS, *TIME_FIELDS):
            value = getattr(self, field)
            if value is None:
                continue
            if IDENT.match(value):
                refs[field] = (self.table, value)
            elif QUALIFIED.match(value):
                alias, column = value.split(".")
                if alias in tables:
                    refs[field] = (tables[alias], column)
        return refs

    def source_label(self) -> str:
        """How errors name this mapping (``preset zammad`` or ``custom mapping``)."""
        return f"preset {self.preset}" if self.preset else "custom mapping"


def _with_prefix(preset: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """Substitute ``{p}`` (the table prefix) in every string of a preset."""

    def sub(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace("{p}", prefix)
        if isinstance(value, list | tuple):
            return [sub(v) for v in value]
        if isinstance(value, Mapping):
            return {k: sub(v) for k, v in value.items()}
        return value

    return {k: sub(v) for k, v in preset.items() if k != "table_prefix"}
