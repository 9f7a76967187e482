"""What a refused request costs the app: the CPU time of the most expensive requests an attacker can build.

``python -m benchmarks.refused`` sends each hostile request below straight into the WSGI application, as
benchmarks.inprocess does (no sockets), many times, and prints the CPU time per request, the minimum and the
median, most expensive first. Every request is refused (4xx), so none needs a secret: they are what anyone
may send. Each stays within what gunicorn lets through by default (a request line of 4094 bytes, header
fields of 8190) and Django reads (DATA_UPLOAD_MAX_MEMORY_SIZE, 2.5 MB), which is where its size comes from.
benchmarks/README.md ("What a refused request costs") has the latest figures.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple

if __package__ in (None, ""):  # run as a script: python benchmarks/refused.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import inprocess, servers, workload

REQUEST_LINE = 4094  # gunicorn's limit_request_line default
HEADER_FIELD = 8190  # gunicorn's limit_request_field_size default
FORM_BODY = 2_621_440  # Django's DATA_UPLOAD_MAX_MEMORY_SIZE default


class Hostile(NamedTuple):
    name: str
    method: str
    target: str
    authorization: str = ""
    body: bytes = b""
    content_type: str = ""


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(header: dict[str, Any] | bytes, claims: dict[str, Any] | bytes, signature: bytes = b"x" * 32) -> str:
    def segment(part: dict[str, Any] | bytes) -> str:
        return b64(part if isinstance(part, bytes) else json.dumps(part).encode())

    return f"{segment(header)}.{segment(claims)}.{b64(signature)}"


def padded_claims(client_key: str, budget: int, filler: Callable[[int], Any]) -> dict[str, Any]:
    """Claims naming ``client_key`` whose token fills ``budget`` characters with ``filler(n)``."""
    claims: dict[str, Any] = {"iss": client_key, "iat": int(time.time()), "exp": int(time.time()) + 180, "qsh": "x"}
    n = 1
    while len(token({"alg": "HS256"}, {**claims, "pad": filler(n * 2)})) < budget:
        n *= 2
    low, high = n, n * 2
    while low < high - 1:  # the largest n that still fits
        middle = (low + high) // 2
        fits = len(token({"alg": "HS256"}, {**claims, "pad": filler(middle)})) <= budget
        low, high = (middle, high) if fits else (low, middle)
    return {**claims, "pad": filler(low)}


def hostile_requests(client_key: str, install: workload.Request) -> list[Hostile]:
    """The requests measured: each refused, each as large as the limits above let it be."""
    page = "/jira/hello.html"
    webhook = "/jira/webhooks/issue-created"
    budget = HEADER_FIELD - len("Authorization: JWT ")
    # The token length the app accepts at most (jira_app.tokens.MAX_TOKEN_LENGTH).
    budget = min(budget, 8 * 1024)
    many_numbers = padded_claims(client_key, budget, lambda n: [0] * n)
    many_strings = padded_claims(client_key, budget, lambda n: ["é"] * n)
    many_keys = padded_claims(client_key, budget, lambda n: {f"{i:x}": 0 for i in range(n)})
    deep = b'{"iss": "' + client_key.encode() + b'", "x": ' + b"[" * 3000 + b"]" * 3000 + b"}"
    query_pairs = "&".join(f"p{i}=v" for i in range(REQUEST_LINE // 6))[: REQUEST_LINE - 200]
    forged = token({"alg": "HS256"}, many_numbers)
    tampered_install = install.authorization[:-8] + (
        "A" * 8 if not install.authorization.endswith("A" * 8) else "B" * 8
    )
    return [
        Hostile("descriptor (not refused: the reference)", "GET", workload.DESCRIPTOR_PATH),
        Hostile("no token", "GET", page),
        Hostile("garbage token", "GET", page, "JWT not-a-token"),
        Hostile("8 kB token nesting 3000 levels", "GET", page, "JWT " + token({"alg": "HS256"}, deep)),
        Hostile("8 kB token: known iss, bad signature, 4000 numbers", "GET", page, "JWT " + forged),
        Hostile(
            "8 kB token: known iss, bad signature, 2000 non-ASCII strings",
            "GET",
            page,
            "JWT " + token({"alg": "HS256"}, many_strings),
        ),
        Hostile(
            "8 kB token: known iss, bad signature, 800 keys",
            "GET",
            page,
            "JWT " + token({"alg": "HS256"}, many_keys),
        ),
        Hostile(
            "8 kB token: unknown iss, 4000 numbers",
            "GET",
            page,
            "JWT " + token({"alg": "HS256"}, {**many_numbers, "iss": "nobody-" + client_key[7:]}),
        ),
        Hostile(
            "bad signature, 4 kB query of 680 fields, jwt last",
            "GET",
            f"{page}?{query_pairs}&jwt={forged[: REQUEST_LINE - len(query_pairs) - 40]}",
        ),
        Hostile(
            "bad signature, 4 kB non-ASCII query (Django's QueryDict)",
            "GET",
            f"{page}?{'%C3%A9=%C3%A9&' * ((REQUEST_LINE - 100) // 14)}",
            "JWT " + forged,
        ),
        Hostile(
            "bad signature, 2.5 MB form body a&a&a...",
            "POST",
            webhook,
            "JWT " + forged,
            b"a&" * (FORM_BODY // 2),
            "application/x-www-form-urlencoded",
        ),
        Hostile(
            "signed install (RS256), signature tampered, 64 kB body",
            "POST",
            install.target,
            tampered_install,
            b'{"pad": "' + b"x" * 65_000 + b'"}',
            "application/json",
        ),
    ]


def environ(request: Hostile) -> dict[str, Any]:
    env = inprocess.environ(workload.Request(request.method, request.target, request.authorization))
    env["wsgi.input"] = io.BytesIO(request.body)
    if request.body:
        env["CONTENT_TYPE"] = request.content_type
        env["CONTENT_LENGTH"] = str(len(request.body))
    return env


def cpu_per_request(application: Callable[..., Iterable[bytes]], request: Hostile, repeat: int) -> list[float]:
    from jira_app import tokens

    costs = []
    for _ in range(repeat):
        status: list[str] = []

        def start_response(line: str, headers: Any, exc_info: Any = None, status: list[str] = status) -> None:
            status.append(line)

        env = environ(request)
        # An attacker sends a new token each time: the app must not find this one already read.
        tokens.read_unverified.cache_clear()
        started = time.process_time()
        result = application(env, start_response)
        b"".join(result)
        getattr(result, "close", lambda: None)()
        costs.append(time.process_time() - started)
        code = int(status[0].split()[0])
        refused = 400 <= code < 500
        if refused == request.name.startswith("descriptor"):
            raise RuntimeError(f"{request.name}: answered {code}")
    return costs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=50, help="requests per case (the first few warm up)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="jira-refused-") as workdir:
        server = os.environ.get("DATABASE_URL", "")
        with servers.databases(["refused"], Path(workdir), server) as urls:
            measure(args.repeat, urls["refused"])
    return 0


def measure(repeat: int, database_url: str) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "mysite.settings",
            "DATABASE_URL": database_url,
            "ATLASSIAN_CONNECT_BASE_URL": inprocess.APP_BASE_URL,
            "JIRA_APP_LOG_LEVEL": "CRITICAL",  # each refusal logs a line; its cost is not what is measured here
        }
    )
    import logging

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
    logging.disable(logging.CRITICAL)  # django.request and jira_app.security lines, one per refusal
    with mock_jira() as fake:
        settings.ATLASSIAN_CONNECT_INSTALL_KEYS_URL = fake.keys_url
        app = fake.connect_app(DjangoClientTransport(Client()), workload.DESCRIPTOR_PATH)
        tenant = workload.install_tenants(fake, app, "victim", 1)[0]
        install = next(workload.reinstalls(fake, workload.install_tenants(fake, app, "installer", 1)))
        rows = []
        for request in hostile_requests(tenant.site.client_key, install):
            costs = cpu_per_request(application, request, repeat)[3:]  # the first calls fill caches
            rows.append((min(costs), statistics.median(costs), request.name))
    for low, median, name in sorted(rows, reverse=True):
        print(f"{low * 1e3:8.3f} ms CPU (median {median * 1e3:.3f})  {name}", flush=True)
    connections.close_all()  # before the database is dropped


if __name__ == "__main__":
    sys.exit(main())
