#!/usr/bin/env bash
# One entry point for a fresh clone: creates .venv when needed, then runs a task.
#   ./dev.sh demo [options]   replay a real ticket log; watch an alert fire and resolve
#   ./dev.sh test [pytest args]   lint, type-check and run the test suite
#   ./dev.sh bench            run the benchmarks
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
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
    exec .venv/bin/python -m pytest "$@"
    ;;
  bench) exec .venv/bin/python -m benchmarks "$@" ;;
  *) sed -n '2,6p' "$0"; exit 64 ;;
esac
