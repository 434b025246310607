"""Mappings: preset options (GLPI's group_assignment), fan-out joins, the joins used."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from pydantic import ValidationError

from collectors.sqlmap import SqlMapping
from collectors.sqlqueries import PollQueries
from config.loader import load_settings
from monitor.errors import ConfigError

SOURCE = """
sources:
  - kind: sql
    name: helpdesk
    url: "sqlite://"
    mapping: {mapping}
"""


def glpi(**overrides: Any) -> SqlMapping:
    return SqlMapping.model_validate({"preset": "glpi", **overrides})


def joins(mapping: SqlMapping, total: bool = False) -> list[str]:
    """The aliases of the joins the poll's statements use."""
    queries = PollQueries(mapping, lambda _field, instant: instant, total=total)
    return [j.alias for j in queries.joins()]


def problems(mapping: str) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        load_settings(text=SOURCE.format(mapping=mapping))
    return caught.value.problems


class TestBackfillGroups:
    """GLPI's per-group history in backfill is opt-in (``backfill_groups: held``)."""

    def test_today_is_the_default(self) -> None:
        past = glpi().past_state
        assert glpi().backfill_groups == "today"
        assert past is not None and past.queue_join is not None
        assert not past.queue_join.backfills()

    def test_held_reads_the_history_over_time(self) -> None:
        past = glpi(backfill_groups="held").past_state
        assert past is not None and past.queue_join is not None
        assert past.queue_join.backfills()

    def test_held_needs_every_assigned_group(self) -> None:
        [(path, message)] = problems(
            "{preset: glpi, group_assignment: first_assigned_group, backfill_groups: held}"
        )
        assert path == "sources -> 0 -> mapping -> backfill_groups"
        assert "every_assigned_group" in message

    def test_other_presets_refuse_it_with_its_path(self) -> None:
        [(path, message)] = problems("{preset: otrs, backfill_groups: held}")
        assert path == "sources -> 0 -> mapping -> backfill_groups"
        assert "preset glpi only" in message and "otrs" in message

    def test_unknown_value_is_an_error(self) -> None:
        [(path, _)] = problems("{preset: glpi, backfill_groups: always}")
        assert path == "sources -> 0 -> mapping -> backfill_groups"


class TestGroupAssignment:
    def test_every_assigned_group_is_the_default(self) -> None:
        """GLPI counts a ticket in each assigned group: the link join fans out."""
        mapping = glpi()
        assert mapping.group_assignment == "every_assigned_group"
        assert [j.fan_out for j in mapping.joins] == [True, False]
        assert mapping.queues_overlap()

    def test_first_assigned_group_takes_the_earliest_link(self) -> None:
        """The first assignment is the link row made first (lowest link id), one per ticket."""
        mapping = glpi(group_assignment="first_assigned_group")
        assert not mapping.queues_overlap()
        assert "g2.id < gt.id" in mapping.joins[0].on
        assert "groups_id <" not in mapping.joins[0].on

    def test_other_presets_refuse_it_with_its_path(self) -> None:
        """group_assignment on a preset without groups (or no preset) is a located error."""
        [(path, message)] = problems("{preset: zammad, group_assignment: first_assigned_group}")
        assert path == "sources -> 0 -> mapping -> group_assignment"
        assert "preset glpi only" in message and "zammad" in message

    def test_unknown_value_is_an_error(self) -> None:
        """A value other than the two rules is reported under group_assignment."""
        [(path, _)] = problems("{preset: glpi, group_assignment: lowest_id}")
        assert path == "sources -> 0 -> mapping -> group_assignment"

    def test_a_user_override_wins_over_the_variant(self) -> None:
        """Joins given next to the preset replace the variant's joins."""
        mine = [{"table": "glpi_groups", "alias": "g", "on": "g.id = t.itilcategories_id"}]
        assert [j.alias for j in glpi(joins=mine).joins] == ["g"]
        # the groups as of an instant stood in for the preset's link join: dropped with it
        past = glpi(joins=mine).past_state
        assert past is not None and past.queue_join is None and past.status is not None


class TestFanOut:
    def test_only_queue_may_read_a_fan_out_join(self) -> None:
        """Another field reading the fan-out join would count a ticket once per queue."""
        with pytest.raises(ValidationError, match="priority reads the fan_out join gt"):
            glpi(priority="gt.type")

    def test_a_fan_out_join_must_be_a_left_join(self) -> None:
        """An inner fan-out join would filter tickets too: refused."""
        mine = [
            {"table": "links", "alias": "l", "on": "l.t = t.id", "fan_out": True, "kind": "inner"}
        ]
        with pytest.raises(ValidationError, match="must be a left join"):
            SqlMapping.model_validate(
                {
                    "table": "tickets",
                    "joins": mine,
                    "queue": "l.name",
                    "status": "status",
                    "created_at": "created_at",
                    "open_statuses": ["open"],
                }
            )


class TestPastJoin:
    def test_every_assigned_group_reads_the_groups_then(self) -> None:
        """GLPI's default variant replaces the link join by the groups as of the instant,
        still fanning out; the first-assigned variant reads none (one link per ticket)."""
        replaced = {j.alias: j for j in glpi().joins_as_of()}["gt"]
        assert replaced.fan_out and ":as_of" in replaced.table
        assert replaced.on == "gt.tickets_id = t.id"
        first = glpi(group_assignment="first_assigned_group")
        assert first.past_state is not None and first.past_state.queue_join is None
        assert first.joins_as_of() == first.joins

    def test_it_must_name_a_join(self) -> None:
        past = {"queue_join": {"alias": "gx", "table": "(SELECT 1 WHERE :as_of > 0)"}}
        with pytest.raises(ValidationError, match="'gx' names no join"):
            glpi(past_state=past)

    def test_it_must_read_the_instant(self) -> None:
        past = {"queue_join": {"alias": "gt", "table": "glpi_groups_tickets"}}
        with pytest.raises(ValidationError, match="queue_join must compare a time"):
            glpi(past_state=past)

    def test_it_excludes_a_single_queue(self) -> None:
        past = {
            "queue": "SELECT 'x' WHERE :as_of > 0",
            "queue_join": {"alias": "gt", "table": "(SELECT 1 WHERE :as_of > 0)"},
        }
        with pytest.raises(ValidationError, match="exclude each other"):
            glpi(past_state=past)


class TestJoinsUsed:
    def test_the_total_leaves_the_queue_joins_out(self) -> None:
        """The source-wide statements of GLPI read neither the links nor the groups."""
        assert joins(glpi()) == ["gt", "g"]
        assert joins(glpi(), total=True) == []

    def test_a_join_nothing_reads_is_left_out(self) -> None:
        """Queues by ITIL category: the group joins are no longer read, so not joined."""
        category = (
            "SELECT c.completename FROM glpi_itilcategories c WHERE c.id = t.itilcategories_id"
        )
        mapping = glpi(queue=category)
        assert joins(mapping) == []
        assert not mapping.queues_overlap()

    def test_inner_joins_are_kept(self) -> None:
        """An inner join filters tickets: it stays even when no field reads it."""
        mapping = SqlMapping.model_validate({"preset": "zammad", "priority": None})
        assert joins(mapping) == ["g", "s", "st"]

    def test_a_skipped_field_drops_its_joins(self) -> None:
        """Leaving out an unreadable priority leaves its lookup join out too."""
        mapping = SqlMapping.model_validate({"preset": "osticket"})
        queries = PollQueries(mapping, lambda _f, i: i, skip=frozenset({"priority"}))
        assert [j.alias for j in queries.joins()] == ["s", "d"]
        backlog = str(queries.backlog(datetime(2016, 4, 1)))
        assert "ticket__cdata" not in backlog and "ticket_priority" not in backlog
