"""Real processes in tests: the command under test, and waiting on them without racing.

The command is ``python -m monitor`` run by the interpreter running the tests, importing
the code under test. A console script is not always beside ``sys.executable`` (``pip
install --user``, a distribution building in its own tree, ``Scripts\\*.exe`` on
Windows), and one found on PATH may belong to another installation.

Deadlines here are hang guards, not speed checks: a shared, loaded 2-core machine may
take many times longer than an idle one, and a test that passes must pass there too.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
import requests

import monitor

T = TypeVar("T")

PATIENCE = 120.0
"""Seconds before a wait is declared hung (about 100x what an idle machine needs)."""

SOURCE_ROOT = Path(monitor.__file__).resolve().parent.parent
"""The folder the code under test is imported from."""


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def backlog_monitor(*args: str | Path) -> list[str]:
    """The argv that runs ``backlog-monitor ARGS`` from the code under test."""
    return [sys.executable, "-m", "monitor", *map(str, args)]


def environment(**extra: str) -> dict[str, str]:
    """This environment for a child process: the code under test importable, ``extra`` set,
    and no ``BACKLOG_MONITOR_*`` variable (a developer's shell must not configure it)."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("BACKLOG_MONITOR_")}
    paths = [str(SOURCE_ROOT), *filter(None, [env.get("PYTHONPATH")])]
    return {**env, "PYTHONPATH": os.pathsep.join(paths), **extra}


def run_cli(
    *args: str | Path, cwd: Path | None = None, timeout: float = PATIENCE, **extra: str
) -> subprocess.CompletedProcess[str]:
    """Run ``backlog-monitor ARGS`` to completion, capturing its text output; ``extra``
    are environment variables."""
    return subprocess.run(
        backlog_monitor(*args),
        cwd=cwd,
        env=environment(**extra),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def eventually(
    check: Callable[[], T],
    what: str,
    timeout: float = PATIENCE,
    died: Callable[[], str | None] = lambda: None,
    context: Callable[[], str] = lambda: "",
) -> T:
    """Poll ``check()`` until it returns something truthy and return that.

    Fails when ``died()`` names a reason (a process the test waits on exited) or after
    ``timeout`` seconds; the message ends with ``context()`` (say, the process's log).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        reason = died()
        if reason is not None:
            pytest.fail(f"{reason} before {what}\n{context()}")
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout:g}s waiting for {what}\n{context()}")


def start_logged(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``argv`` with both its output streams written to ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)


def wait_ready(name: str, url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Wait for a Prometheus-style ``/-/ready``; fail with ``log`` if ``process`` exits."""

    def answers() -> bool:
        try:
            return requests.get(f"{url}/-/ready", timeout=10).status_code == 200
        except requests.RequestException:  # not listening yet, or too busy to answer
            return False

    def died() -> str | None:
        code = process.poll()
        return None if code is None else f"{name} exited with {code}"

    eventually(answers, f"{name} to be ready", died=died, context=log.read_text)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it is still running after :data:`PATIENCE`."""
    process.terminate()
    try:
        process.wait(timeout=PATIENCE)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
