"""A wrong column in a preset override stops the daemon before polling (exit code 2); a
table only an optional figure needs is a warning, and the daemon starts."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from tests.collectors.presets import test_zammad
from tests.processes import run_cli


def _config(tmp_path: Path, queue: str, without: tuple[str, ...] = (), extra: str = "") -> Path:
    tickets = tmp_path / "zammad.db"
    writer = sa.create_engine(f"sqlite:///{tickets}")
    tables = [t for t in test_zammad.metadata.sorted_tables if t.name not in without]
    test_zammad.metadata.create_all(writer, tables=tables)
    writer.dispose()
    path = tmp_path / "config.yaml"
    path.write_text(
        f"""
store: {{url: "sqlite:///{tmp_path}/history.db"}}
http: {{listen: "127.0.0.1:0"}}
sources:
  - kind: sql
    name: helpdesk
    url: "sqlite:///{tickets}"
    mapping: {{preset: zammad, queue: "{queue}"{extra}}}
""",
        encoding="utf-8",
    )
    return path


class TestConnectChecks:
    def test_check_config_names_the_wrong_column(self, tmp_path: Path) -> None:
        """check-config --connect prints the preset, field and column, and exits 2."""
        path = _config(tmp_path, "g.nam")
        done = run_cli("check-config", "--config", path, "--connect")
        assert done.returncode == 2, done.stderr
        assert "sources -> 0 -> mapping -> queue: preset zammad: column groups.nam" in done.stderr

    def test_run_refuses_to_start(self, tmp_path: Path) -> None:
        """run exits 2 before polling and never creates the history store."""
        path = _config(tmp_path, "g.nam")
        done = run_cli("run", "--config", path)
        assert done.returncode == 2, done.stderr
        assert "groups.nam" in done.stderr
        assert not (tmp_path / "history.db").exists()

    def test_a_correct_mapping_passes(self, tmp_path: Path) -> None:
        """The preset's own queue column passes the live check."""
        path = _config(tmp_path, "g.name")
        done = run_cli("check-config", "--config", path, "--connect")
        assert done.returncode == 0, done.stderr

    def test_missing_optional_table_is_a_warning(self, tmp_path: Path) -> None:
        """Without the history tables check-config --connect exits 0 and warns that
        reopened will be absent, naming the field and the table."""
        path = _config(tmp_path, "g.name", without=("histories",))
        done = run_cli("check-config", "--config", path, "--connect")
        assert done.returncode == 0, done.stderr
        assert (
            "warning: sources -> 0 -> mapping -> reopened_at: preset zammad: figure reopened"
            " will be absent (not 0): table histories does not exist"
        ) in done.stderr

    def test_check_config_names_a_wrong_past_state(self, tmp_path: Path) -> None:
        """A configured past_state whose column does not exist stops check-config
        --connect (exit 2) with its path, before any snapshot --as-of."""
        status = (
            "SELECT MAX(h.state) FROM histories h WHERE h.o_id = t.id AND h.created_at < :as_of"
        )
        path = _config(tmp_path, "g.name", extra=f', past_state: {{status: "{status}"}}')
        done = run_cli("check-config", "--config", path, "--connect")
        assert done.returncode == 2, done.stderr
        assert (
            "sources -> 0 -> mapping -> past_state -> status: preset zammad:"
            " past_state.status: no such column: h.state"
        ) in done.stderr

    def test_check_config_names_wrong_queue_changes(self, tmp_path: Path) -> None:
        """The rows a configured past_state reads for backfill (queue_changes) are run
        too: a column their table does not have stops check-config --connect (exit 2)
        with its path, before any backfill."""
        queue = "SELECT MAX(h.id_to) FROM histories h WHERE h.o_id = t.id AND h.created_at < :as_of"
        changes = "{table: histories, ticket: o_id, at: changed_at}"
        extra = f', past_state: {{queue: "{queue}", queue_changes: {changes}}}'
        done = run_cli(
            "check-config", "--config", _config(tmp_path, "g.name", extra=extra), "--connect"
        )
        assert done.returncode == 2, done.stderr
        assert (
            "sources -> 0 -> mapping -> past_state -> queue_changes: preset zammad:"
            " past_state.queue_changes: no such column: h.changed_at"
        ) in done.stderr
