"""The dependency audit's verdict: vulnerable, not audited, or clean, never silently clean."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from scripts.audit_dependencies import NOT_AUDITED_EXIT, verdict

ROOT = Path(__file__).resolve().parents[1]


class TestVerdict:
    def test_known_vulnerabilities_fail(self) -> None:
        """A dependency with a vulnerability: exit 1, its id and fixed versions listed."""
        report = {
            "dependencies": [
                {"name": "ok", "version": "1", "vulns": []},
                {
                    "name": "jinja2",
                    "version": "3.0.0",
                    "vulns": [{"id": "GHSA-h5c8-rqwp-cp95", "fix_versions": ["3.1.3"]}],
                },
            ]
        }
        code, lines = verdict(report, required=False)
        assert code == 1
        assert "  jinja2 3.0.0: GHSA-h5c8-rqwp-cp95 (3.1.3)" in lines

    def test_skipped_packages_are_reported_not_passed_silently(self) -> None:
        """Packages pip-audit could not look up: a NOT AUDITED line with the count."""
        report = {
            "dependencies": [
                {"name": "a", "version": "1", "vulns": []},
                {"name": "b", "skip_reason": "Dependency not found on PyPI and could not..."},
            ]
        }
        code, lines = verdict(report, required=False)
        assert code == 0
        assert lines[0] == "NOT AUDITED: 1 of 2 dependencies could not be checked"
        assert verdict(report, required=True)[0] == NOT_AUDITED_EXIT

    def test_no_report_at_all_is_not_audited(self) -> None:
        """pip-audit crashed (no network): NOT AUDITED, fatal only when required."""
        assert verdict(None, required=False)[1][0].startswith("NOT AUDITED")
        assert verdict(None, required=True)[0] == NOT_AUDITED_EXIT

    def test_everything_audited_and_clean_passes(self) -> None:
        """Every package looked up (this editable project aside) and clean: exit 0."""
        report = {
            "dependencies": [
                {"name": "a", "version": "1", "vulns": []},
                {"name": "backlog-monitor", "skip_reason": "distribution marked as editable"},
            ]
        }
        assert verdict(report, required=True) == (
            0,
            ["audited 1 dependencies: no known vulnerabilities"],
        )


def test_the_script_runs_pip_audit_and_prints_a_verdict() -> None:
    """The real pip-audit runs; whatever the network, one of the three verdicts is printed."""
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "audit_dependencies.py")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "AUDIT_REQUIRED": "0"},
    )
    first = run.stdout.splitlines()[0]
    assert first.startswith(("pip-audit: NOT AUDITED", "pip-audit: VULNERABLE", "pip-audit: aud"))
    assert run.returncode in (0, 1)
