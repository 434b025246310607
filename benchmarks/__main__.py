"""``./dev.sh bench``: run every benchmark (quick; ``--full`` for full sizes) and write
docs/benchmarks.md; ``--list`` names them. Each also runs alone:
``python -m benchmarks.<area>.<name> --help``. Forecast accuracy has its own, slower
benchmarks: ``python -m benchmarks.forecasts.backtest`` and ``.crossval``."""

import sys

from benchmarks.suite import main

if __name__ == "__main__":
    sys.exit(main())
