"""The app's own CPU cost per request, without sockets, gunicorn or a load generator: for profiling.

``python -m benchmarks.inprocess`` calls the WSGI application directly with the environ gunicorn would build,
for the same requests the load test sends (benchmarks/workload.py), and prints the CPU time per request of
each scenario over several repetitions (the minimum, and the median). On a shared two-core machine this is far
steadier than throughput, so it is how each optimisation was measured (benchmarks/README.md). ``--profile
page`` runs that scenario under pyinstrument instead and prints where the time goes (``PROFILE_ALL=1``: every
frame, Django's included).

The app runs in this process against fake_jira in process, on a SQLite file in a temporary directory, or on a
fresh PostgreSQL database (dropped afterwards) when DATABASE_URL names a PostgreSQL server.
"""

from __future__ import annotations

import argparse
import io
import itertools
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import unquote

if __package__ in (None, ""):  # run as a script: python benchmarks/inprocess.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import servers, workload

APP_BASE_URL = "https://jira-app.bench.test"


def environ(request: workload.Request) -> dict[str, Any]:
    """The WSGI environ gunicorn builds for ``request`` (RAW_URI included: the app hashes the raw path)."""
    path, _, query = request.target.partition("?")
    body = request.body.encode()
    env: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote(path, encoding="latin-1"),
        "QUERY_STRING": query,
        "RAW_URI": request.target,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_USER_AGENT": "benchmarks.inprocess",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if body:
        env["CONTENT_TYPE"] = "application/json"
        env["CONTENT_LENGTH"] = str(len(body))
    if request.authorization:
        env["HTTP_AUTHORIZATION"] = request.authorization
    for header in request.headers:
        name, _, value = header.partition(": ")
        env["HTTP_" + name.upper().replace("-", "_")] = value
    return env


def call(application: Callable[..., Iterable[bytes]], request: workload.Request) -> int:
    status: list[str] = []

    def start_response(line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        status.append(line)

    result = application(environ(request), start_response)
    try:
        b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close:
            close()  # sends request_finished, as gunicorn does: Django then keeps or closes the connection
    return int(status[0].split()[0])


def cost_per_request(application: Callable[..., Iterable[bytes]], requests: list[workload.Request]) -> Cost:
    """CPU and wall-clock seconds per request over ``requests``; raises if any is answered with a non-2xx."""
    cpu, wall = time.process_time(), time.perf_counter()
    for request in requests:
        status = call(application, request)
        if not 200 <= status < 300:
            raise RuntimeError(f"{request.method} {request.target[:80]} answered {status}")
    return Cost((time.process_time() - cpu) / len(requests), (time.perf_counter() - wall) / len(requests))


class Cost(NamedTuple):
    cpu: float
    wall: float  # with PostgreSQL, also the time spent waiting for the server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="requests per repetition and scenario")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--profile", choices=["baseline", "page", "context", "webhook", "install"])
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="jira-inprocess-") as workdir:
        server = os.environ.get("DATABASE_URL", "")
        with servers.databases(["inprocess"], Path(workdir), server) as urls:
            measure(args, urls["inprocess"])
    return 0


def measure(args: argparse.Namespace, database_url: str) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "mysite.settings",
            "DATABASE_URL": database_url,
            "ATLASSIAN_CONNECT_BASE_URL": APP_BASE_URL,
            "JIRA_APP_LOG_LEVEL": "WARNING",  # a line per install would be timed too
        }
    )
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections
    from django.test import Client

    from fake_jira.mock import mock_jira
    from fake_jira.transports import DjangoClientTransport
    from mysite.wsgi import application

    call_command("migrate", verbosity=0)
    with mock_jira() as fake:
        settings.ATLASSIAN_CONNECT_INSTALL_KEYS_URL = fake.keys_url
        app = fake.connect_app(DjangoClientTransport(Client()), workload.DESCRIPTOR_PATH)
        tenants = workload.install_tenants(fake, app, "tenant", args.tenants)
        installers = workload.install_tenants(fake, app, "installer", 10)
        scenarios: dict[str, Callable[[], Iterator[workload.Request]]] = {
            "baseline": workload.descriptor_requests,
            "page": lambda: workload.page_loads(tenants),
            "context": lambda: workload.context_calls(tenants),
            "webhook": lambda: workload.webhook_deliveries(tenants),
            "install": lambda: workload.reinstalls(fake, installers),
        }
        if args.profile:
            from pyinstrument import Profiler

            requests = list(itertools.islice(scenarios[args.profile](), args.requests))
            cost_per_request(application, requests[:200])  # warm: caches filled, connection open
            with Profiler(interval=0.0001) as profiler:
                cost_per_request(application, requests)
            profiler.print(show_all=os.environ.get("PROFILE_ALL") == "1")
        else:
            for name, make in scenarios.items():
                costs = []
                for _ in range(args.repeat + 1):  # the first repetition warms up and is dropped
                    requests = list(itertools.islice(make(), args.requests))
                    costs.append(cost_per_request(application, requests))
                kept = costs[1:]
                # The minimum is the run least disturbed by anything else on the machine (as timeit advises).
                cpu, wall = min(c.cpu for c in kept), min(c.wall for c in kept)
                median = statistics.median(c.cpu for c in kept)
                print(
                    f"{name:9} {cpu * 1e6:7.1f} µs CPU/request (median {median * 1e6:.1f}), {wall * 1e6:7.1f} µs wall",
                    flush=True,
                )
    connections.close_all()  # before the database is dropped


if __name__ == "__main__":
    sys.exit(main())
