"""How a help desk's schema maps onto ticket facts: columns, SQL expressions, joins, presets.

Every field of :class:`SqlMapping` is a column of the base table (``created_at``), a
column of a joined table (``g.name``), or an SQL expression over them
(``NULLIF(t.owner_id, 1)``). The base table is aliased ``t``. A ``preset`` fills every
field for a known help desk; any field given next to it overrides the preset's.

Fields are *core* (:data:`CORE_FIELDS`: a poll fails without them) or *optional*
(:data:`OPTIONAL_FIELDS`: each feeds figures of :data:`FIGURE_FIELDS` that are reported
absent when it cannot be read). A statement joins only the tables its fields refer to
(by alias, transitively through the joins' conditions): a left join nothing reads is left
out, so an unreadable table of an optional figure never touches the core statements.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

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
CORE_FIELDS = ("id", "queue", "status", "created_at", "resolved_at")
"""Fields every poll needs: a problem with one of them is a configuration error."""
OPTIONAL_FIELDS = (
    "priority",
    "assignee",
    "first_response_at",
    "first_response_due_at",
    "resolution_due_at",
    "reopened_at",
)
"""Fields read on their own: one that cannot be read makes its figures absent."""
FIGURE_FIELDS: dict[str, tuple[str, ...]] = {
    "priority": ("priority",),
    "unassigned": ("assignee",),
    "first_response": ("first_response_at",),
    # a first-response deadline is met by the first response: counting breaches without
    # it would count every answered ticket past its deadline
    "sla_first_response": ("first_response_due_at", "first_response_at"),
    "sla_resolution": ("resolution_due_at",),
    "reopened": ("reopened_at",),
}
"""Each optional figure (:data:`collectors.base.OPTIONAL_FIGURES`) and the fields it reads;
the first one must be mapped, the others only when they are."""
WORKLOAD_FIELDS = ("updated_at", "category", "reassignments", "reopens", "first_assigned_at")
"""Fields only the workload figures read (``collectors.sqlworkload``); never a poll's core."""
GroupAssignment = Literal["every_assigned_group", "first_assigned_group"]
BackfillGroups = Literal["today", "held"]
PresetName = Literal["osticket", "zammad", "glpi", "otrs", "znuny", "rt"]
ALIAS_REF = re.compile(r"(?<![A-Za-z0-9_$.])([A-Za-z_][A-Za-z0-9_$]*)\.")
"""``alias.`` in SQL text: how a field or a join condition refers to a joined table."""


class Join(BaseModel):
    """A table joined to the ticket table (``t``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    table: str
    alias: str = Field(pattern=IDENT.pattern)
    on: str
    kind: Literal["left", "inner"] = "left"
    fan_out: bool = Field(
        False,
        description="the join may match several rows per ticket (a many-to-many link such as"
        " GLPI's assigned groups): the ticket counts in each queue it reaches, and the"
        " source's total is computed without this join. Only queue may read it.",
    )


class StatusHistory(BaseModel):
    """A table with one row per change of a ticket's status or queue (optional).

    Each row says what the ticket's status (or queue) *became* at ``at``; a row that is
    not about the status (or the queue) has NULL there. Where a store keeps one, waiting
    ages are measured from the ticket's entry into its status, and moves to another queue
    after the first assignment count as misroutes.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    table: str
    ticket: str = Field(description="column holding the ticket's id (as the mapping's id)")
    at: str = Field(description="column or expression: when the change happened")
    status: str | None = Field(None, description="the new status, NULL on other rows")
    queue_moves: str | None = Field(
        None,
        description="a condition true on rows that move the ticket to another queue after"
        " its first assignment (misroutes)",
    )
    where: str | None = Field(None, description="rows to consider at all")

    @model_validator(mode="after")
    def _something_recorded(self) -> StatusHistory:
        if self.status is None and self.queue_moves is None:
            raise ValueError("a status history needs status, queue_moves or both")
        return self


AS_OF_PARAM = ":as_of"
"""The placeholder a :class:`PastState` expression compares history times with."""


class QueueChanges(BaseModel):
    """The history rows at which a ticket's queue may change (``past_state.queue_changes``).

    ``backfill`` reads them to count each ticket in the queue ``past_state.queue`` gives
    at each hour's end: only hours with such a row are looked at, so every change of the
    queue must have a row here (rows that change nothing cost time, not accuracy). The
    history table is aliased ``h``; times are read as ``past_state``'s (``epoch``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    table: str
    ticket: str = Field(description="column of h holding the ticket's id (as the mapping's id)")
    at: str = Field(description="column or expression of h: when the row was written")
    where: str | None = Field(None, description="the rows that may change the queue")

    def expression(self, field: str) -> str:
        """``ticket`` or ``at`` with a bare column name qualified by ``h.``."""
        text = str(getattr(self, field))
        return f"h.{text}" if IDENT.match(text) else text


class PastJoin(BaseModel):
    """A join of the mapping read as of a past instant (``past_state.queue_join``).

    Where a ticket may be in several queues at once (a ``fan_out`` join, GLPI's assigned
    groups), no single ``past_state.queue`` value says where it was: this join, whose
    ``table`` (usually a derived table over the history) compares history times with
    ``:as_of``, takes the place of the mapping's join of the same ``alias`` in
    ``snapshot --as-of``, giving the rows the ticket had at the instant (kind and
    ``fan_out`` are those of the join it replaces).

    With ``rows``, ``held`` and ``changes`` ``backfill`` reads it too: per hour, the
    ticket table joined to ``rows`` on ``on AND held`` with ``:as_of`` bound to the
    hour's end, only in the hours with a ``changes`` row (and at creations, resolutions
    and the backfill's start); a ticket none of whose rows is held gets the join's NULL
    row, as with today's links.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    alias: str = Field(pattern=IDENT.pattern, description="the mapping's join it replaces")
    table: str = Field(description="SQL of the rows as of :as_of, aliased as the join")
    on: str | None = Field(None, description="the join condition (default: the replaced one's)")
    rows: str | None = Field(
        None,
        description="backfill: every row the join may have held at any time (a table or"
        " derived table aliased as the join, no :as_of), joined with on AND held",
    )
    held: str | None = Field(
        None,
        description="backfill: a condition over the join's alias (and t) true when its row"
        " is held at :as_of",
    )
    changes: QueueChanges | None = Field(
        None,
        description="backfill: the history rows at which a ticket's rows of the join may"
        " change (every change must have one); with rows and held, backfill counts each"
        " ticket in every queue it held at each hour's end",
    )

    @model_validator(mode="after")
    def _backfill_complete(self) -> PastJoin:
        given = [n for n in ("rows", "held", "changes") if getattr(self, n) is not None]
        if given and len(given) != 3:
            raise ValueError("past_state.queue_join needs rows, held and changes together")
        if self.held is not None and AS_OF_PARAM not in self.held:
            raise ValueError(f"past_state.queue_join.held must compare a time with {AS_OF_PARAM}")
        return self

    def backfills(self) -> bool:
        """Whether ``backfill`` reads this join over time (rows, held and changes given)."""
        return self.changes is not None


class PastState(BaseModel):
    """Where the store keeps each ticket's status and queue at a past instant (optional).

    Each expression is SQL over the ticket table ``t`` (usually a correlated subquery on
    the help desk's history table) giving the ticket's status or queue name as of the
    instant bound to ``:as_of`` (in the mapping's ``timezone``, or Unix seconds with
    ``epoch``), NULL when the history does not say (the ticket's current value is used
    then). ``snapshot --as-of`` reads them; ``backfill`` reads the queue where
    ``queue_changes`` says which rows may change it (or ``queue_join`` with its
    ``changes``); live polls read neither.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    status: str | None = Field(None, description="the status as of :as_of, NULL if unknown")
    queue: str | None = Field(None, description="the queue name as of :as_of, NULL if unknown")
    epoch: bool = Field(False, description="the history's times are Unix seconds")
    queue_changes: QueueChanges | None = Field(
        None,
        description="the history rows that may change the queue: backfill counts each"
        " ticket in its queue at each hour's end (without them, in today's queue)",
    )
    queue_join: PastJoin | None = Field(
        None,
        description="a join read as of :as_of instead of the mapping's join of its alias"
        " (queues a ticket may hold several of at once; snapshot --as-of, and backfill"
        " with its rows, held and changes)",
    )

    @model_validator(mode="after")
    def _reads_the_instant(self) -> PastState:
        given = {n: v for n, v in (("status", self.status), ("queue", self.queue)) if v}
        if self.queue_join is not None:
            given["queue_join"] = f"{self.queue_join.table} {self.queue_join.on or ''}"
        if not given:
            raise ValueError("past_state needs status, queue, queue_join or several")
        for name, text in given.items():
            if AS_OF_PARAM not in text:
                raise ValueError(f"past_state.{name} must compare a time with {AS_OF_PARAM}")
        if self.queue_join is not None and self.queue is not None:
            raise ValueError("past_state.queue and past_state.queue_join exclude each other")
        if self.queue_changes is not None and self.queue is None:
            raise ValueError("past_state.queue_changes needs past_state.queue")
        return self


class SqlMapping(BaseModel):
    """Where the ticket facts live; see the module docstring for the field syntax."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    preset: PresetName | None = None
    group_assignment: GroupAssignment | None = Field(
        None,
        description="GLPI: a ticket with several assigned groups counts in every one of them"
        " (every_assigned_group, the default) or in the one assigned first",
    )
    backfill_groups: BackfillGroups | None = Field(
        None,
        description="GLPI with every_assigned_group: backfill counts each ticket in today's"
        " groups (today, the default) or in every group it held at each hour's end from"
        " glpi_logs (held: exact, 2 to 5 times slower; snapshot --as-of reads the history"
        " either way)",
    )
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
    updated_at: str | None = Field(None, description="when the ticket last changed (stale)")
    category: str | None = Field(None, description="category, type, tag or custom field")
    reassignments: str | None = Field(None, description="how often the ticket was reassigned")
    reopens: str | None = Field(None, description="how often the ticket was reopened")
    first_assigned_at: str | None = Field(
        None,
        description="when the ticket was first assigned to an agent (time to first"
        " assignment): a column, or an expression such as the earliest owner change of a"
        " history table; NULL while it never was",
    )
    history: StatusHistory | None = None
    past_state: PastState | None = Field(
        None, description="status and queue as of a past instant, from a history table"
    )
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
        from collectors.presets import PRESETS, VARIANTS  # the presets import this module

        name = str(data["preset"])
        if name not in PRESETS:
            return data  # the Literal check reports it
        preset = dict(PRESETS[name])
        for option, variants in VARIANTS.get(name, {}).items():
            # the chosen variant's fields, under the user's overrides; an unknown value
            # is reported by the field's Literal check
            preset.update(variants.get(str(data.get(option, preset.get(option))), {}))
        past = preset.get("past_state")
        if "joins" in data and isinstance(past, Mapping) and past.get("queue_join"):
            # the user's joins replace the preset's, the one its queue_join stands in for
            preset["past_state"] = {k: v for k, v in past.items() if k != "queue_join"}
        prefix = str(data.get("table_prefix", preset.get("table_prefix", "")))
        return {**_with_prefix(preset, prefix), **data}

    @model_validator(mode="after")
    def _coherent(self) -> SqlMapping:
        if (self.open_statuses is None) == (self.open_sql is None):
            raise ValueError("give exactly one of open_statuses and open_sql")
        if self.open_statuses is not None and not self.open_statuses:
            raise ValueError("open_statuses must list at least one status")
        times = (*TIME_FIELDS, "updated_at", "first_assigned_at")
        unknown = sorted(set(self.epoch_fields) - set(times))
        if unknown:
            raise ValueError(f"epoch_fields may only name {', '.join(times)}; got {unknown}")
        aliases = [j.alias for j in self.joins]
        if "t" in aliases or len(set(aliases)) != len(aliases):
            raise ValueError("join aliases must be unique and not 't'")
        self._fan_out_read_by_queue_only()
        replaced = self.past_state.queue_join if self.past_state else None
        if replaced is not None and replaced.alias not in aliases:
            raise ValueError(f"past_state.queue_join.alias {replaced.alias!r} names no join")
        return self

    def joins_as_of(self) -> tuple[Join, ...]:
        """The joins as ``snapshot --as-of`` reads them: ``past_state.queue_join`` in place
        of the join of its alias."""
        past = self.past_state.queue_join if self.past_state else None
        if past is None:
            return self.joins
        return tuple(
            j.model_copy(update={"table": past.table, "on": past.on or j.on})
            if j.alias == past.alias
            else j
            for j in self.joins
        )

    def _fan_out_read_by_queue_only(self) -> None:
        fanning = {j.alias for j in self.joins if j.fan_out}
        if not fanning:
            return
        if any(j.fan_out and j.kind != "left" for j in self.joins):
            raise ValueError("a fan_out join must be a left join")
        for name, text in self.texts(exclude=("queue",)).items():
            wrong = sorted(fanning & {j.alias for j in self.joins_for([text])})
            if wrong:
                raise ValueError(
                    f"{name} reads the fan_out join {', '.join(wrong)}: only queue may, or the"
                    " source's total would count a ticket once per queue"
                )

    @field_validator("group_assignment")
    @classmethod
    def _preset_has_groups(cls, value: str | None, info: ValidationInfo) -> str | None:
        from collectors.presets import VARIANTS

        preset = info.data.get("preset")
        if value is not None and "group_assignment" not in VARIANTS.get(str(preset), {}):
            owners = sorted(p for p, v in VARIANTS.items() if "group_assignment" in v)
            raise ValueError(
                f"group_assignment applies to preset {', '.join(owners)} only"
                f" (this mapping: {'preset ' + str(preset) if preset else 'no preset'})"
            )
        return value

    @field_validator("backfill_groups")
    @classmethod
    def _groups_held_over_time(cls, value: str | None, info: ValidationInfo) -> str | None:
        from collectors.presets import VARIANTS

        preset = info.data.get("preset")
        if value is not None and "backfill_groups" not in VARIANTS.get(str(preset), {}):
            owners = sorted(p for p, v in VARIANTS.items() if "backfill_groups" in v)
            raise ValueError(
                f"backfill_groups applies to preset {', '.join(owners)} only"
                f" (this mapping: {'preset ' + str(preset) if preset else 'no preset'})"
            )
        assignment = info.data.get("group_assignment")
        if value == "held" and assignment not in (None, "every_assigned_group"):
            raise ValueError(
                "backfill_groups: held needs group_assignment: every_assigned_group"
                f" (this mapping: {assignment}; the first assigned group has no history)"
            )
        return value

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

    def texts(self, exclude: tuple[str, ...] = ()) -> dict[str, str]:
        """The SQL text of every mapped field and predicate (``where``, ``open_sql``)."""
        names = (*DIMENSION_FIELDS, *TIME_FIELDS, *WORKLOAD_FIELDS, "where", "open_sql")
        out = {n: self.expression(n) for n in names if n not in exclude}
        return {n: text for n, text in out.items() if text is not None}

    def joins_for(self, texts: Iterable[str]) -> list[Join]:
        """The joins ``texts`` refer to, with the joins those refer to, in mapping order."""
        by_alias = {j.alias: j for j in self.joins}
        needed: set[str] = set()
        pending = [a for text in texts for a in _aliases(text) if a in by_alias]
        while pending:
            alias = pending.pop()
            if alias not in needed:
                needed.add(alias)
                pending += [a for a in _aliases(by_alias[alias].on) if a in by_alias]
        return [j for j in self.joins if j.alias in needed]

    def queues_overlap(self) -> bool:
        """Whether a ticket may count in several queues (the queue reads a fan_out join)."""
        return any(j.fan_out for j in self.joins_for([self.expression("queue") or ""]))

    def column_refs(self) -> dict[str, tuple[str, str]]:
        """Fields that name a plain column: field -> (table, column), for schema checks."""
        tables = {"t": self.table, **{j.alias: j.table for j in self.joins}}
        refs: dict[str, tuple[str, str]] = {}
        for field in (*DIMENSION_FIELDS, *TIME_FIELDS, *WORKLOAD_FIELDS):
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


def _aliases(text: str) -> set[str]:
    return set(ALIAS_REF.findall(text))


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
