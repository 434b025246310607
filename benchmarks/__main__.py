"""List the benchmarks; run one with ``python -m benchmarks.<area>.<name>``."""

BENCHMARKS = {
    "benchmarks.forecasts.backtest": "forecast accuracy and early-warning scoring on ServiceNow",
    "benchmarks.forecasts.speed": "1,000-queue refresh: cheap updates vs full refit",
}

if __name__ == "__main__":
    for module, what in BENCHMARKS.items():
        print(f"python -m {module:36s} {what}")
