#!/usr/bin/env bash
# One entry point for a fresh clone: creates .venv when needed, then runs a task.
#   ./dev.sh demo [options]   replay a real ticket log; watch an alert fire and resolve
#   ./dev.sh test [pytest args]   lint, type-check and run the test suite
#   ./dev.sh bench            run the benchmarks
#   ./dev.sh audit            audit the dependencies for known vulnerabilities (pip-audit)
set -euo pipefail
cd "$(dirname "$0")"

# The interpreter for .venv: $PYTHON, else the first python3 that is 3.11 or newer.
pick_python() {
  local candidate candidates=(python3 python3.13 python3.12 python3.11)
  if [ -n "${PYTHON:-}" ]; then
    candidates=("$PYTHON")
  fi
  for candidate in "${candidates[@]}"; do
    if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"
      return
    fi
  done
  echo "dev.sh: needs Python 3.11 or newer; set PYTHON=/path/to/python3.11" >&2
  return 69
}
if [ ! -x .venv/bin/python ]; then
  py=$(pick_python)
  if ! "$py" -m venv .venv; then
    rm -rf .venv  # half made (Debian without python3-venv): start again next time
    exit 69
  fi
fi
stamp=.venv/.installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e '.[dev]'
  touch "$stamp"
fi
task=${1:-help}
shift || true
case "$task" in
  demo) exec .venv/bin/backlog-monitor demo "$@" ;;
  test)
    .venv/bin/ruff check .
    .venv/bin/ruff format --check .
    .venv/bin/mypy
    # One test process per core (pytest-xdist), each test file kept on one process so
    # that a module's fixtures (the simulated days) are built once; PYTEST_WORKERS=0
    # runs them in this process.
    exec .venv/bin/python -m pytest -n "${PYTEST_WORKERS:-auto}" --dist loadfile "$@"
    ;;
  bench) exec .venv/bin/python -m benchmarks "$@" ;;
  audit) exec .venv/bin/python scripts/audit_dependencies.py "$@" ;;
  *) sed -n '2,6p' "$0"; exit 64 ;;
esac
