"""Workload configuration errors: at start-up, with their paths (exit code 2)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from collectors.sql import SqlSourceConfig
from collectors.validate import check_mapping
from tests.collectors import workload_data as data
from tests.processes import run_cli

CONFIG = """\
store:
  url: "sqlite:///history.db"
sources:
  - kind: sql
    name: helpdesk
    url: "sqlite:///tickets.db"
    mapping:
      table: incidents
      queue: assignment_group
      status: incident_state
      created_at: opened_at
      open_statuses: [New, Active, Awaiting User Info]
    workload:
      waiting_statuses: [Awaiting User Info, Awaiting Godot]
      top_categories: 5
"""


class TestWorkloadConfigErrors:
    def test_unknown_waiting_status_and_missing_fields_exit_2(self, tmp_path: Path) -> None:
        """An unknown waiting status and a category never mapped are errors at the path."""
        path = tmp_path / "config.yaml"
        path.write_text(CONFIG, encoding="utf-8")
        result = run_cli("check-config", "--config", str(path))
        assert result.returncode == 2, result.stderr
        errors = result.stderr.splitlines()[1:]
        assert [e.strip().split(": ", 1)[0] for e in errors] == ["sources -> 0 -> workload"]
        assert "top_categories needs mapping.category" in errors[0]
        assert "waiting_statuses needs mapping.updated_at" in errors[0]
        assert "'Awaiting Godot' is not one of the open statuses" in errors[0]

    def test_waiting_status_not_open(self) -> None:
        """A waiting status outside open_statuses names the status."""
        mapping = {**data.MAPPING, "open_statuses": ["New", "Active"]}
        try:
            SqlSourceConfig.model_validate(
                {
                    "kind": "sql",
                    "name": "x",
                    "url": "sqlite://",
                    "mapping": mapping,
                    "workload": {"waiting_statuses": ["Awaiting Vendor"]},
                }
            )
        except ValueError as err:
            assert "'Awaiting Vendor' is not one of the open statuses" in str(err)
        else:
            raise AssertionError("accepted a waiting status that is not open")

    def test_category_column_and_history_checked_against_the_schema(self, tmp_path: Path) -> None:
        """A category column that does not exist and a bad history are located errors."""
        engine = sa.create_engine(f"sqlite:///{tmp_path}/t.db")
        data.metadata.create_all(engine)
        mapping = {
            **data.MAPPING,
            "category": "kategorie",
            "history": {**data.HISTORY, "at": "changed_on"},
        }
        config = SqlSourceConfig.model_validate(
            {"kind": "sql", "name": "x", "url": "sqlite://", "mapping": mapping}
        )
        found = check_mapping(engine, config.mapping, "x")
        paths = [p for p, _ in found.problems]
        assert paths == [
            "sources -> 0 -> mapping -> category",
            "sources -> 0 -> mapping -> history",
        ]
        assert "incidents.kategorie does not exist" in found.problems[0][1]
        assert "changed_on" in found.problems[1][1]
        engine.dispose()


class TestHistoryNotReadable:
    def test_a_missing_history_is_a_warning_and_its_figures_absent(self, tmp_path: Path) -> None:
        """Without the history table the poll still runs: waiting ages from the last update
        (labelled), misroutes absent; check_mapping warns instead of failing."""
        from datetime import UTC, datetime, timedelta

        from collectors.base import Window
        from collectors.sql import SqlCollector

        url = f"sqlite:///{tmp_path}/t.db"
        engine = sa.create_engine(url)
        data.load(engine, datetime(2016, 3, 15))
        mapping = {**data.MAPPING, "history": {**data.HISTORY, "table": "audit_log"}}
        config = SqlSourceConfig.model_validate(
            {
                "kind": "sql",
                "name": "x",
                "url": url,
                "mapping": mapping,
                "workload": {"waiting_statuses": ["Awaiting User Info"]},
            }
        )
        found = check_mapping(engine, config.mapping, "x")
        engine.dispose()
        assert found.problems == []
        assert [p for p, _ in found.warnings] == ["sources -> 0 -> mapping -> history"]
        assert "table audit_log does not exist" in found.warnings[0][1]
        collector = SqlCollector(config)
        end = datetime(2016, 3, 15, tzinfo=UTC)
        snapshot = collector.collect(Window(end - timedelta(days=1), end))
        collector.close()
        workloads = [q.workload for q in snapshot.queues if q.workload and q.workload.waiting]
        assert workloads
        assert all(x.age_from == "last_update" for w in workloads for x in w.waiting or ())
        assert all(w.routing is not None and w.routing.misrouted is None for w in workloads)


class TestTicketUrl:
    def test_a_link_without_the_id_placeholder_is_an_error(self) -> None:
        """ticket_url must say where the id goes."""
        try:
            SqlSourceConfig.model_validate(
                {
                    "kind": "sql",
                    "name": "x",
                    "url": "sqlite://",
                    "mapping": data.MAPPING,
                    "workload": {"ticket_url": "https://desk.example/incident"},
                }
            )
        except ValueError as err:
            assert "ticket_url" in str(err)
        else:
            raise AssertionError("accepted a ticket_url without {id}")
