"""A clone needs nothing beside it: no file names a path of one machine."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What git ignores (.gitignore) or keeps apart: not part of a clone.
SKIPPED = {
    ".git",
    ".venv",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
}
SKIPPED_TOP = {"build", "dist", "benchmarks/results"}
# Built from pieces so that this file does not match itself.
MACHINE_PATHS = re.compile(
    "|".join(
        [
            r"/" + r"work/",  # the folders the project was built in
            r"/" + r"root/",
            r"/" + r"home/[A-Za-z]",
            r"\.\./" + r"shared\b",  # a folder beside the clone
        ]
    )
)


def text_files(root: Path) -> list[Path]:
    """Every text file of the repository's tree (binary and generated folders skipped)."""
    found = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        parts = set(relative.parts)
        if (
            parts & SKIPPED
            or any(p.endswith(".egg-info") for p in parts)
            or any(relative.as_posix().startswith(f"{top}/") for top in SKIPPED_TOP)
            or not path.is_file()
        ):
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        found.append(path)
    return found


class TestNoMachinePaths:
    def test_no_file_names_a_folder_outside_the_clone(self) -> None:
        """No text file names a folder of the machines it was built on, or one beside the clone."""
        hits = [
            f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
            for path in text_files(ROOT)
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if MACHINE_PATHS.search(line)
        ]
        assert hits == []

    def test_the_scan_reads_the_tests_and_the_docs(self) -> None:
        """The walk finds this file, the README and the CI script (it is not vacuous)."""
        names = {path.relative_to(ROOT).as_posix() for path in text_files(ROOT)}
        assert {"tests/test_fresh_clone.py", "README.md", ".ci/run", "dev.sh"} <= names


SLEEP = "time." + "sleep("  # in two pieces, so that this file does not match itself


class TestNoSleepingTests:
    def test_only_the_waiting_helpers_sleep(self) -> None:
        """No test sleeps and hopes: waits go through tests/processes.py (eventually)."""
        sleepers = [
            path.relative_to(ROOT).as_posix()
            for path in sorted((ROOT / "tests").rglob("*.py"))
            if SLEEP in path.read_text(encoding="utf-8")
        ]
        assert sleepers == ["tests/processes.py"]
