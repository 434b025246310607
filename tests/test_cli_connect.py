"""A wrong column in a preset override stops the daemon before polling (exit code 2)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from tests.collectors.presets import test_zammad
from tests.processes import run_cli


def _config(tmp_path: Path, queue: str) -> Path:
    tickets = tmp_path / "zammad.db"
    writer = sa.create_engine(f"sqlite:///{tickets}")
    test_zammad.metadata.create_all(writer)
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
    mapping: {{preset: zammad, queue: "{queue}"}}
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
