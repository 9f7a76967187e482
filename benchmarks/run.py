"""``nox -s bench``: the app under gunicorn on loopback, driven by a load generator; see benchmarks/README.md.

Scenarios (each a warm-up, then ROUNDS rounds of DURATION seconds, interleaved a b d c e, medians reported):
  a  baseline       GET of the public descriptor: the app's cheapest route, no token
  b  page           verified page loads (fresh HS256 token in ``jwt``, qsh bound), 10 tenants in the store
  c  context        context-token API calls (``Authorization: JWT``, qsh ``context-qsh``), same 10 tenants
  d  page_100k      b again on a second server whose store holds 100,000 tenants (d10 is b)
  e  install        signed installs (RS256, key cached after the first fetch), each rotating a secret
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python benchmarks/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import loadgen, report, servers, workload
from fake_jira.server import ThreadedServer
from fake_jira.transports import RequestsTransport

APP_BASE_URL = "https://jira-app.bench.test"  # the descriptor's baseUrl on both servers: the aud of installs
PAGE_TENANTS = 10
INSTALLER_SITES = 10
# Tokens minted per run: enough for the rate last seen plus half again, so none repeats within a run.
TOKEN_MARGIN = 1.5
FIRST_GUESS_RATE = 5000.0
MAX_REQUESTS_PER_FILE = 300_000


@dataclass
class Scenario:
    key: str
    name: str
    label: str
    unit: str
    server: servers.AppServer
    requests: Callable[[], Iterator[workload.Request]]
    fresh_tokens: bool = True
    rounds: list[report.Round] = field(default_factory=list)
    warmup: report.Round | None = None

    def expected_rate(self) -> float:
        done = self.rounds or ([self.warmup] if self.warmup else [])
        return max((r.rate for r in done), default=FIRST_GUESS_RATE)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per round and scenario")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per scenario")
    parser.add_argument("--tenants", type=int, default=100_000, help="tenants in the large store (d)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers per server")
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections (Python client: processes)")
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("results"))
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it (logs, request files)")
    return parser.parse_args(argv)


def measure(
    scenario: Scenario, client: loadgen.LoadGenerator, seconds: float, connections: int, workdir: Path
) -> report.Round:
    count = 1
    if scenario.fresh_tokens:
        count = min(MAX_REQUESTS_PER_FILE, math.ceil(scenario.expected_rate() * seconds * TOKEN_MARGIN))
    request_file = workdir / f"{scenario.key}.requests"
    workload.write_requests(request_file, itertools.islice(scenario.requests(), count))
    cpu_before = scenario.server.cpu_seconds()
    result = client.run(scenario.server.url, request_file, seconds, connections)
    cpu = scenario.server.cpu_seconds() - cpu_before
    return report.Round(
        rate=result.rate,
        requests=result.requests,
        non_2xx=result.non_2xx,
        socket_errors=result.socket_errors,
        worker_cpu_us=cpu * 1e6 / result.requests if result.requests else 0.0,
        tokens_repeated=scenario.fresh_tokens and result.requests > count,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    client = loadgen.choose(args.client, threads=args.threads)
    database_server = os.environ.get("DATABASE_URL", "")
    started = time.monotonic()
    with ExitStack() as stack:
        stack.callback(client.close)
        if args.keep:
            workdir = args.keep
            workdir.mkdir(parents=True, exist_ok=True)
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="jira-bench-")))
        urls = stack.enter_context(servers.databases(["small", "large"], workdir, database_server))
        database = report.describe_database(database_server)
        print(f"database: {database}; load generator: {client.describe()}", flush=True)
        with ThreadPoolExecutor() as pool:
            list(pool.map(lambda url: servers.manage(url, "migrate", "--noinput", "-v0"), urls.values()))
        fake_server = stack.enter_context(ThreadedServer())
        fake = fake_server.fake

        def app_server(name: str) -> servers.AppServer:
            server = servers.AppServer(
                name, urls[name], base_url=APP_BASE_URL, keys_url=fake.keys_url, workers=args.workers, log_dir=workdir
            )
            return stack.enter_context(server)

        small, large = app_server("small"), app_server("large")
        small_app = fake.connect_app(RequestsTransport(small.url), workload.DESCRIPTOR_PATH)
        large_app = fake.connect_app(RequestsTransport(large.url), workload.DESCRIPTOR_PATH)
        tenants = workload.install_tenants(fake, small_app, "small", PAGE_TENANTS)
        large_tenants = workload.install_tenants(fake, large_app, "large", PAGE_TENANTS)
        installers = workload.install_tenants(fake, small_app, "installer", INSTALLER_SITES)
        filler = max(0, args.tenants - PAGE_TENANTS)
        print(f"seeding {filler:,} more tenants into the large store ...", flush=True)
        servers.manage(urls["large"], "-m", "benchmarks.seed", str(filler))

        # d runs right after b, the run it is compared with, so that the two see the machine alike.
        scenarios = [
            Scenario("a", "baseline", "descriptor, no token", "req/s", small, workload.descriptor_requests, False),
            Scenario(
                "b", "page", f"page loads, {PAGE_TENANTS} tenants", "req/s", small, lambda: workload.page_loads(tenants)
            ),
            Scenario(
                "d",
                "page_100k",
                f"page loads, {args.tenants:,} tenants",
                "req/s",
                large,
                lambda: workload.page_loads(large_tenants),
            ),
            Scenario(
                "c", "context", "context-token API calls", "req/s", small, lambda: workload.context_calls(tenants)
            ),
            Scenario(
                "e",
                "install",
                "signed installs (rotations)",
                "installs/s",
                small,
                lambda: workload.reinstalls(fake, installers),
            ),
        ]
        print(f"warm-up: {args.warmup:g} s per scenario", flush=True)
        for scenario in scenarios:
            scenario.warmup = measure(scenario, client, args.warmup, args.connections, workdir)
        for number in range(1, args.rounds + 1):
            for scenario in scenarios:
                scenario.rounds.append(measure(scenario, client, args.duration, args.connections, workdir))
            print(
                f"round {number}/{args.rounds}: " + ", ".join(f"{s.key} {s.rounds[-1].rate:,.0f}" for s in scenarios),
                flush=True,
            )
        results = report.Results(
            machine=report.machine(database, client.describe(), args.workers),
            method={
                "rounds": args.rounds,
                "duration_s": args.duration,
                "warmup_s": args.warmup,
                "workers": args.workers,
                "load_generator": client.name,
                "connections": args.connections,
                "wall_time_s": round(time.monotonic() - started, 1),
            },
            scenarios=[report.ScenarioResult(s.key, s.name, s.label, s.unit, s.rounds, s.warmup) for s in scenarios],
        )
    document = results.write(args.output)
    print(report.table(document))
    print(f"written: {args.output / 'latest.json'}, {args.output / 'latest.png'}")
    refused = document["non_2xx"] + document["socket_errors"]
    if refused:
        print(f"FAILED: {refused} valid requests were refused or lost (gunicorn logs: run again with --keep DIR)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
