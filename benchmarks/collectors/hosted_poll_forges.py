"""Calls and wall time of one GitHub and one GitLab poll at 20 and 500 queues, beside
their budgets.

    python -m benchmarks.collectors.hosted_poll_forges [--queues 20,500] [--share 1.0]
        [--stores github,gitlab] [--apis rest,graphql]

GitLab: the fake GitLab (the ServiceNow log as issues labelled by group; the busiest
``N`` labels, at most 78 exist, so 500 is capped there and the cost for 500 is printed
from the configuration) with GitLab.com's 2,000 requests a minute times ``--share``.

Each size polls the fake GitHub of the tests (``tests/collectors/stores/github.py``, the
Volvo IT log as issues labelled by team, the busiest ``N`` labels as queues) once, with
the shipping collector and its budget (GitHub's 30 searches a minute times ``--share``).
The budget's waits are simulated: the collector's clock and the fake's move by the time
it would have slept, so the fake's own per-minute limit holds and nothing sleeps.
Printed per size: searches sent, the most in any minute of the fake's clock, the waited
(simulated) minutes the poll spans, the shortest interval the configuration allows, and
the wall time of the HTTP work with the machine's load average (the fake server
answers from pandas on this machine, so wall time is the client's and the fake's
together).

GitHub is polled twice per size: over REST (``search_api: rest``, one search per count,
30 searches a minute) and over GraphQL (``search_api: graphql``, ``graphql_batch``
counts a request, GraphQL's 5,000 points an hour, both times ``--share``); for GraphQL
the requests, the searches they carried, the points the fake charged (its ``rateLimit``)
and the shortest interval the points allow. CPU is ``time.process_time`` of the whole
process during the poll (the fake's pandas included). Everything printed also goes to
``benchmarks/results/collectors_hosted_poll_forges.json`` (read by ``./dev.sh bench``).
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.load import save
from collectors.base import Window
from collectors.github import GitHubCollector, GitHubConfig, forget_budgets
from collectors.gitlab import GitLabCollector, GitLabConfig
from tests.collectors.fakeserver import FakeServer
from tests.collectors.stores.github import REPO, TOKEN, FakeGitHub, queues
from tests.collectors.stores.gitlab import PROJECT, FakeGitLab
from tests.collectors.stores.gitlab import TOKEN as GITLAB_TOKEN
from tests.collectors.stores.gitlab import queues as gitlab_queues

AT = datetime(2012, 5, 2, 10, tzinfo=UTC)
GITLAB_AT = datetime(2016, 3, 21, 16, tzinfo=UTC)


def poll(n: int, share: float, api: str = "rest") -> dict[str, Any]:
    """One poll of ``n`` label queues over ``api`` (rest or graphql); its figures."""
    forget_budgets()
    slept: list[float] = []

    def now() -> datetime:
        return AT + timedelta(seconds=sum(slept))

    fake = FakeGitHub(now, per_minute=30)
    with FakeServer(fake) as server:
        config = GitHubConfig.model_validate(
            {
                "kind": "github",
                "name": "bench",
                "api_url": server.url,
                "repo": REPO,
                "token": TOKEN,
                "queues": queues(n),
                "interval": "1d",
                "max_wait": "90s",
                "budget": {"share": share},
                "search_api": api,
            }
        )
        collector = GitHubCollector(config, clock=lambda: now().timestamp(), sleep=slept.append)
        started, cpu = time.perf_counter(), time.process_time()
        collector.collect(Window(AT - timedelta(minutes=15), AT))
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        collector.close()
        searches = len([c for c in server.calls if c.path == "/search/issues"])
        graphql = len([c for c in server.calls if c.path == "/graphql"])
    per_minute = config.budget.per_minute() or 30
    if api == "graphql":
        shortest = config.points_per_poll() / config.points_per_hour() * 60
    else:
        shortest = config.poll_cost().requests / per_minute
    return {
        "api": api,
        "queues": n,
        "counts": config.searches(),
        "requests": graphql if api == "graphql" else searches,
        "searches": searches,
        "graphql_requests": graphql,
        "graphql_searches": fake.graphql_searches,
        "points": sum(spent for _, spent in fake.points.values()),
        "points_estimated": config.points_per_poll(),
        "points_per_hour_allowed": config.points_per_hour(),
        "searches_per_minute_allowed": per_minute,
        "max_per_minute": max(fake.minute_calls.values(), default=0),
        "span_min": sum(slept) / 60,
        "min_interval_min": shortest,
        "wall_s": wall,
        "cpu_s": cpu,
    }


def poll_gitlab(n: int, share: float) -> dict[str, float]:
    """One GitLab poll of ``n`` label queues (as many as the log has); its figures."""
    slept: list[float] = []

    def now() -> datetime:
        return GITLAB_AT + timedelta(seconds=sum(slept))

    fake = FakeGitLab(now, per_minute=2000)
    labels = gitlab_queues(n)
    with FakeServer(fake) as server:
        config = GitLabConfig.model_validate(
            {
                "kind": "gitlab",
                "name": "bench",
                "url": server.url,
                "project": PROJECT,
                "token": GITLAB_TOKEN,
                "queues": labels,
                "interval": "1d",
                "max_wait": "90s",
                "budget": {"requests_per_minute": 2000, "share": share},
            }
        )
        collector = GitLabCollector(config, clock=lambda: now().timestamp(), sleep=slept.append)
        started = time.perf_counter()
        collector.collect(Window(GITLAB_AT - timedelta(minutes=15), GITLAB_AT))
        wall = time.perf_counter() - started
        collector.close()
        sent = len(server.calls)
    wanted = config.model_copy(update={"queues": (config.queues * (n // len(labels) + 1))[:n]})
    return {
        "queues": len(labels),
        "requests": sent,
        "max_per_minute": max(fake.minute_calls.values()),
        "span_min": sum(slept) / 60,
        "cost_at_n": GitLabConfig.poll_cost(wanted).requests if n > len(labels) else sent,
        "wall_s": wall,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queues", default="20,500")
    parser.add_argument("--share", type=float, default=1.0)
    parser.add_argument("--stores", default="github,gitlab")
    parser.add_argument("--apis", default="rest,graphql", help="GitHub: rest, graphql")
    args = parser.parse_args(argv)
    stores = args.stores.split(",")
    sizes = [int(x) for x in args.queues.split(",")]
    result: dict[str, Any] = {"share": args.share, "load_before": os.getloadavg()}
    if "gitlab" in stores:
        print(f"GitLab, budget {int(2000 * args.share)} requests/min (share {args.share:g})")
        print("queues  requests  max/min  poll spans  wall (s)")
        result["gitlab"] = []
        for n in sizes:
            r = poll_gitlab(n, args.share)
            result["gitlab"].append({**r, "asked": n})
            note = "" if r["queues"] == n else f"  ({n} labels: {r['cost_at_n']} requests)"
            print(
                f"{r['queues']:>6}  {r['requests']:>8}  {r['max_per_minute']:>7}  "
                f"{r['span_min']:>7.0f} min  {r['wall_s']:>8.1f}{note}"
            )
    if "github" in stores:
        result["github"] = []
        apis = args.apis.split(",")
        if "rest" in apis:
            print(
                f"GitHub REST, budget {int(30 * args.share)} searches/min "
                f"(share {args.share:g} of 30)"
            )
            print("queues  searches  max/min  poll spans  shortest interval  wall (s)  CPU (s)")
            for n in sizes:
                r = poll(n, args.share, "rest")
                result["github"].append(r)
                print(
                    f"{r['queues']:>6}  {r['searches']:>8}  {r['max_per_minute']:>7}  "
                    f"{r['span_min']:>7.0f} min  {r['min_interval_min']:>13.2f} min  "
                    f"{r['wall_s']:>8.1f}  {r['cpu_s']:>7.1f}"
                )
        if "graphql" in apis:
            print(
                f"GitHub GraphQL, budget {int(5000 * args.share)} points/hour "
                f"(share {args.share:g} of 5,000), 50 searches a request"
            )
            print(
                "queues  counts  requests  REST searches  points (estimate)  poll spans  "
                "shortest interval  wall (s)  CPU (s)"
            )
            for n in sizes:
                r = poll(n, args.share, "graphql")
                result["github"].append(r)
                print(
                    f"{r['queues']:>6}  {r['graphql_searches']:>6}  {r['requests']:>8}  "
                    f"{r['searches']:>13}  {r['points']:>6} ({r['points_estimated']:>3})     "
                    f"{r['span_min']:>7.0f} min  {r['min_interval_min']:>13.2f} min  "
                    f"{r['wall_s']:>8.1f}  {r['cpu_s']:>7.1f}"
                )
    result["load_after"] = os.getloadavg()
    result["cpus"] = os.cpu_count()
    save(result, "collectors_hosted_poll_forges.json")
    print(
        f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
