"""``nox -s bench``: the app under gunicorn on loopback, driven by a load generator; see benchmarks/README.md.

Scenarios (each a warm-up, then ROUNDS rounds of DURATION seconds, interleaved 0 a b d (g h) c f e, medians reported):
  0  bare           bare Django (benchmarks/bare): one view returning a short string, no middleware, same gunicorn
  a  baseline       GET of the public descriptor: the app's cheapest route, no token
  b  page           verified page loads (fresh HS256 token in ``jwt``, qsh bound), 10 tenants in the store
  c  context        context-token API calls (``Authorization: JWT``, qsh ``context-qsh``), same 10 tenants
  d  page_100k      b again on a second server whose store holds 100,000 tenants (d10 is b)
  e  install        signed installs (RS256, key cached after the first fetch), each rotating a secret
  f  webhook        verified webhook deliveries, each with its own X-Atlassian-Webhook-Identifier (stored once)
  g  ace_single     with --peers: b's page loads against atlassian-connect-express, one node process
  h  ace_cluster    with --peers: the same against ACE under node cluster x2 (benchmarks/peers.py)
Then the memory run: RSS of the large server's workers after warm-up and after --memory-requests more.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python benchmarks/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import loadgen, peers, report, servers, workload
from benchmarks import memory as memory_run
from fake_jira.server import ThreadedServer
from fake_jira.simulator import FakeJira
from fake_jira.transports import RequestsTransport

APP_BASE_URL = "https://jira-app.bench.test"  # the descriptor's baseUrl on both servers: the aud of installs
PAGE_TENANTS = 10
INSTALLER_SITES = 10
# Tokens minted per run: enough for the rate last seen plus half again, so none repeats within a run.
TOKEN_MARGIN = 1.5
FIRST_GUESS_RATE = 5000.0
MAX_REQUESTS_PER_FILE = 300_000
MEMORY_WARMUP_REQUESTS = 3000


@dataclass
class Scenario:
    key: str
    name: str
    label: str
    unit: str
    server: servers.Server
    requests: Callable[[], Iterator[workload.Request]]
    fresh_tokens: bool = True
    rounds: list[report.Round] = field(default_factory=list)
    warmup: report.Round | None = None

    def expected_rate(self) -> float:
        done = self.rounds or ([self.warmup] if self.warmup else [])
        return max((r.rate for r in done), default=FIRST_GUESS_RATE)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_server_arguments(parser)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per round and scenario")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per scenario")
    parser.add_argument("--tenants", type=int, default=100_000, help="tenants in the large store (d, memory)")
    parser.add_argument(
        "--memory-requests",
        type=int,
        default=100_000,
        help="requests of the memory run after its warm-up (0: no memory run)",
    )
    parser.add_argument(
        "--peers",
        action="store_true",
        help=f"also atlassian-connect-express, single and under node cluster (installed in ${peers.ACE_DIR_VARIABLE})",
    )
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("results"))
    return parser.parse_args(argv)


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """The options benchmarks.run shares with benchmarks.breakdown."""
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers per server")
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections (Python client: processes)")
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it (logs, request files)")


@dataclass
class Bench:
    """The servers of a run and the tenants installed on them."""

    workdir: Path
    database: str
    fake: FakeJira
    bare: servers.BareServer
    small: servers.AppServer
    tenants: list[workload.Tenant]
    installers: list[workload.Tenant]
    large: servers.AppServer | None = None
    large_tenants: list[workload.Tenant] = field(default_factory=list)
    seeded: list[workload.SeededTenant] = field(default_factory=list)
    ace: list[peers.AcePeer] = field(default_factory=list)
    ace_description: str = ""

    def scenarios(self, tenants_in_large_store: int) -> list[Scenario]:
        """In the order they run within a round: d right after b, the run it is compared with."""
        tenants, large_tenants, fake, installers = self.tenants, self.large_tenants, self.fake, self.installers
        found = [
            Scenario("0", "bare", "bare Django, no middleware", "req/s", self.bare, workload.bare_requests, False),
            Scenario("a", "baseline", "descriptor, no token", "req/s", self.small, workload.descriptor_requests, False),
            Scenario(
                "b",
                "page",
                f"page loads, {PAGE_TENANTS} tenants",
                "req/s",
                self.small,
                lambda: workload.page_loads(tenants),
            ),
        ]
        if self.large is not None:
            found.append(
                Scenario(
                    "d",
                    "page_100k",
                    f"page loads, {tenants_in_large_store:,} tenants",
                    "req/s",
                    self.large,
                    lambda: workload.page_loads(large_tenants),
                )
            )
        for key, peer in zip("gh", self.ace, strict=False):
            found.append(
                Scenario(
                    key,
                    peer.server.name,
                    f"ACE page loads, {PAGE_TENANTS} tenants, {peer.server.processes}",
                    "req/s",
                    peer.server,
                    # Bound now: a lambda would see the loop's last peer.
                    functools.partial(workload.page_loads, peer.tenants),
                )
            )
        found += [
            Scenario(
                "c", "context", "context-token API calls", "req/s", self.small, lambda: workload.context_calls(tenants)
            ),
            Scenario(
                "f",
                "webhook",
                "webhook deliveries, de-duplicated",
                "deliveries/s",
                self.small,
                lambda: workload.webhook_deliveries(tenants),
            ),
            Scenario(
                "e",
                "install",
                "signed installs (rotations)",
                "installs/s",
                self.small,
                lambda: workload.reinstalls(fake, installers),
            ),
        ]
        return found


@contextmanager
def start(
    args: argparse.Namespace, *, large_tenants: int | None, ace_dir: Path | None = None, ace_database: str = ""
) -> Iterator[Bench]:
    """Databases, fake_jira's HTTP server, bare Django and the app's servers, with their tenants installed.

    ``large_tenants``: the size of the second, large store (None: no large store). ``ace_dir``: the npm-installed
    ACE app to run beside them, its store on ``ace_database``'s PostgreSQL holding the same sites as the app's
    small store (None: no ACE).
    """
    names = ["small", "large"] if large_tenants is not None else ["small"]
    database_server = os.environ.get("DATABASE_URL", "")
    with ExitStack() as stack:
        if args.keep:
            workdir = args.keep
            workdir.mkdir(parents=True, exist_ok=True)
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="jira-bench-")))
        urls = stack.enter_context(servers.databases(names, workdir, database_server))
        with ThreadPoolExecutor() as pool:
            list(pool.map(lambda url: servers.manage(url, "migrate", "--noinput", "-v0"), urls.values()))
        fake_server = stack.enter_context(ThreadedServer())
        fake = fake_server.fake

        def app_server(name: str) -> servers.AppServer:
            server = servers.AppServer(
                name, urls[name], base_url=APP_BASE_URL, keys_url=fake.keys_url, workers=args.workers, log_dir=workdir
            )
            return stack.enter_context(server)

        bare = stack.enter_context(servers.BareServer(workers=args.workers, log_dir=workdir))
        small = app_server("small")
        small_app = fake.connect_app(RequestsTransport(small.url), workload.DESCRIPTOR_PATH)
        bench = Bench(
            workdir=workdir,
            database=report.describe_database(database_server),
            fake=fake,
            bare=bare,
            small=small,
            tenants=workload.install_tenants(fake, small_app, "small", PAGE_TENANTS),
            installers=workload.install_tenants(fake, small_app, "installer", INSTALLER_SITES),
        )
        if large_tenants is not None:
            bench.large = app_server("large")
            large_app = fake.connect_app(RequestsTransport(bench.large.url), workload.DESCRIPTOR_PATH)
            bench.large_tenants = workload.install_tenants(fake, large_app, "large", PAGE_TENANTS)
            filler = max(0, large_tenants - PAGE_TENANTS)
            print(f"seeding {filler:,} more tenants into the large store ...", flush=True)
            secrets_file = workdir / "seeded.tsv"
            servers.manage(urls["large"], "-m", "benchmarks.seed", str(filler), str(secrets_file))
            installed = [workload.SeededTenant(t.site.client_key, t.secret) for t in bench.large_tenants]
            bench.seeded = installed + workload.read_seeded(secrets_file)
        if ace_dir is not None:
            sites = [tenant.site for tenant in bench.tenants]
            bench.ace = stack.enter_context(peers.start(ace_dir, fake, sites, workdir, ace_database))
            bench.ace_description = peers.describe(ace_dir)
        yield bench


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


def choose_client(args: argparse.Namespace) -> loadgen.LoadGenerator:
    client = loadgen.choose(args.client, threads=args.threads)
    if client.name != "wrk":
        print(loadgen.PYTHON_CLIENT_WARNING, file=sys.stderr, flush=True)
    return client


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ace_dir = peers.ace_dir() if args.peers else None
    ace_database = peers.database_server(os.environ.get("DATABASE_URL", "")) if args.peers else ""
    if ace_database:
        peers.require_database_server(ace_database)
    client = choose_client(args)
    started = time.monotonic()
    memory = None
    with ExitStack() as stack:
        stack.callback(client.close)
        bench = stack.enter_context(start(args, large_tenants=args.tenants, ace_dir=ace_dir, ace_database=ace_database))
        print(f"database: {bench.database}; load generator: {client.describe()}", flush=True)
        scenarios = bench.scenarios(args.tenants)
        print(f"warm-up: {args.warmup:g} s per scenario", flush=True)
        for scenario in scenarios:
            scenario.warmup = measure(scenario, client, args.warmup, args.connections, bench.workdir)
        for number in range(1, args.rounds + 1):
            for scenario in scenarios:
                scenario.rounds.append(measure(scenario, client, args.duration, args.connections, bench.workdir))
            print(
                f"round {number}/{args.rounds}: " + ", ".join(f"{s.key} {s.rounds[-1].rate:,.0f}" for s in scenarios),
                flush=True,
            )
        memory_refused = 0
        if args.memory_requests and bench.large is not None:
            print(f"memory: {args.memory_requests:,} requests to the {args.tenants:,}-tenant store ...", flush=True)
            # No webhooks: on SQLite each is a commit, and 100,000 requests would take the run's time in fsync.
            mix = workload.interleave(
                workload.page_loads(bench.large_tenants),
                workload.seeded_context_calls(bench.large_tenants[0].app, bench.seeded),
            )
            checkpoints, memory_refused = memory_run.run(
                bench.large,
                mix,
                client,
                total=args.memory_requests,
                warmup=MEMORY_WARMUP_REQUESTS,
                connections=args.connections,
                workdir=bench.workdir,
            )
            memory = memory_run.summary(checkpoints, args.tenants)
        machine = report.machine(bench.database, client.describe(), args.workers)
        if bench.ace_description:
            machine["peers"] = bench.ace_description
        results = report.Results(
            machine=machine,
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
            memory=memory,
            memory_refused=memory_refused,
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
