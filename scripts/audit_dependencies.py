"""Audit the installed dependencies with pip-audit, and say plainly when it could not.

pip-audit prints "No known vulnerabilities found" and exits 0 even when it could look
up none of the packages (no network, or an index without PyPI's JSON API): every one is
then only "skipped". This wrapper reads pip-audit's JSON report and tells the three
outcomes apart:

- vulnerabilities found: they are listed, exit 1;
- some or all packages could not be audited: a NOT AUDITED banner with the count and
  the reason, exit 0, or exit 3 when ``AUDIT_REQUIRED=1`` (a CI runner with network);
- everything audited and clean: exit 0.

Usage: ``./dev.sh audit`` (or ``.venv/bin/python scripts/audit_dependencies.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from typing import Any

NOT_AUDITED_EXIT = 3


def verdict(report: dict[str, Any] | None, required: bool) -> tuple[int, list[str]]:
    """The exit code and the lines to print for a pip-audit JSON report (None: no report)."""
    if report is None:
        lines = ["NOT AUDITED: pip-audit could not reach a vulnerability service (no network?)"]
        return (NOT_AUDITED_EXIT if required else 0), lines
    own = "marked as editable"  # this project itself, installed with pip install -e
    deps = [d for d in report.get("dependencies", []) if own not in d.get("skip_reason", "")]
    vulnerable = [d for d in deps if d.get("vulns")]
    skipped = [d for d in deps if "skip_reason" in d]
    if vulnerable:
        lines = [f"VULNERABLE: {len(vulnerable)} dependencies have known vulnerabilities"]
        for dep in vulnerable:
            for vuln in dep["vulns"]:
                fixes = ", ".join(vuln.get("fix_versions") or []) or "no fix yet"
                lines.append(f"  {dep['name']} {dep.get('version')}: {vuln['id']} ({fixes})")
        return 1, lines
    if skipped:
        reasons = Counter(d["skip_reason"].split(":")[0] for d in skipped)
        lines = [
            f"NOT AUDITED: {len(skipped)} of {len(deps)} dependencies could not be checked",
            *(f"  {n} x {reason}" for reason, n in reasons.most_common()),
            "  (no vulnerability was found, but these packages were not looked up at all)",
        ]
        return (NOT_AUDITED_EXIT if required else 0), lines
    return 0, [f"audited {len(deps)} dependencies: no known vulnerabilities"]


def main() -> int:
    options = ["--skip-editable", "--progress-spinner", "off", "--format", "json"]
    run = subprocess.run(
        [sys.executable, "-m", "pip_audit", *options, *sys.argv[1:]],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        report: dict[str, Any] | None = json.loads(run.stdout)
    except ValueError:
        report = None
    code, lines = verdict(report, required=os.environ.get("AUDIT_REQUIRED") == "1")
    print("\n".join(f"pip-audit: {line}" for line in lines))
    return code


if __name__ == "__main__":
    sys.exit(main())
