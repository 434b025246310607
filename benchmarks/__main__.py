"""List the benchmarks; run one with ``python -m benchmarks.<area>.<name>``."""

BENCHMARKS = {
    "benchmarks.forecasts.backtest": "forecast accuracy and early-warning scoring on ServiceNow",
    "benchmarks.forecasts.heldout": "the same scoring on queues the rule was not tuned on",
    "benchmarks.forecasts.speed": "1,000-queue refresh: cheap updates vs full refit",
    "benchmarks.collectors.sql_poll": "one SQL poll on 1M/10M tickets vs hand-written SQL",
    "benchmarks.alerting.evaluate": "1,000 queues x 10 rules: evaluation per tick",
    "benchmarks.alerting.latency": "rule firing to the receiver's 2xx on loopback",
}

if __name__ == "__main__":
    for module, what in BENCHMARKS.items():
        print(f"python -m {module:36s} {what}")
