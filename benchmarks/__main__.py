"""List the benchmarks; run one with ``python -m benchmarks.<area>.<name>``."""

BENCHMARKS = {
    "benchmarks.forecasts.backtest": "the shipping forecasts replayed on the ServiceNow queues",
    "benchmarks.forecasts.crossval": "forecast rule chosen leave-one-log-out; held-out scores",
    "benchmarks.forecasts.speed": "the forecast job at 1,000 queues; cheap vs full ETS fits",
    "benchmarks.collectors.sql_poll": "one SQL poll on 1M/10M tickets vs hand-written SQL",
    "benchmarks.collectors.http_poll": "one hosted poll at 20/500 queues per store vs the plans",
    "benchmarks.alerting.evaluate": "1,000 queues x 10 rules: evaluation per tick",
    "benchmarks.alerting.latency": "rule firing to the receiver's 2xx on loopback",
}

if __name__ == "__main__":
    for module, what in BENCHMARKS.items():
        print(f"python -m {module:36s} {what}")
