"""atlassian-connect-express (ACE) beside the app, for ``python -m benchmarks.run --peers``: benchmarks/README.md.

The peer is the minimal ACE app of tests/peers/ace_app, installed from npm at the version its package-lock.json
pins (``nox -s bench_peers`` does it, into the session's temporary folder) and named by FAKE_JIRA_ACE_DIR. It runs
twice: one node process (app.js), and node cluster with two workers (cluster.js), in production mode, as ACE's own
app template deploys it: its Sequelize store on PostgreSQL, one database that every process reads, as the app's
workers read theirs. The single process writes the tenants into it through ACE's settings API (ACE_STORE_SEED)
before it listens; the cluster, started after it, finds them there.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from benchmarks import servers, workload
from fake_jira import scopes, tokens
from fake_jira.server import free_port
from fake_jira.simulator import FakeJira
from fake_jira.sites import JiraSite
from fake_jira.transports import RequestsTransport

ACE_DIR_VARIABLE = "FAKE_JIRA_ACE_DIR"  # as for nox -s check_peers (tests/peers/conftest.py)
ACE_PACKAGE = "atlassian-connect-express"
CLUSTER_WORKERS = 2
DESCRIPTOR_PATH = "/atlassian-connect.json"
# ACE reads its settings from the environment (lib/internal/config.js: AC_*, PORT, NODE_ENV...), and a
# developer's shell must not change a run: AC_OPTS=no-auth, for one, turns its authentication off.
_OWN_VARIABLES = {"NODE_ENV", "NODE_OPTIONS", "PORT", "CONNECT_KEYS_CDN_URL", "DATABASE_URL", "DB_URL"}
_OWN_PREFIXES = ("AC_", "ACE_")
LISTENING = "ACE app listening on"  # what app.js prints once its port is open, in each process
# ACE's store needs PostgreSQL: the run's own server when it has one, else the local one.
DEFAULT_DATABASE_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def ace_dir() -> Path:
    """The npm-installed ACE app named by FAKE_JIRA_ACE_DIR; SystemExit, saying how to get one, without it or Node."""
    how = "`nox -s bench_peers` installs ACE from npm and runs the bench with it"
    if shutil.which("node") is None:
        raise SystemExit(f"--peers needs Node.js 18 or newer (Debian: apt-get install nodejs npm); {how}")
    found = os.environ.get(ACE_DIR_VARIABLE)
    if not found:
        raise SystemExit(f"--peers: {ACE_DIR_VARIABLE} names no ACE app; {how}")
    directory = Path(found)
    if not (directory / "node_modules" / ACE_PACKAGE / "package.json").exists():
        raise SystemExit(f"--peers: {directory} holds no installed {ACE_PACKAGE} (npm ci there); {how}")
    return directory


def describe(directory: Path) -> str:
    """ACE's version as installed, and Node's."""
    package = json.loads((directory / "node_modules" / ACE_PACKAGE / "package.json").read_text())
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True).stdout.strip()
    return f"{ACE_PACKAGE} {package['version']} on Node {node}: one process, and node cluster x{CLUSTER_WORKERS}"


def client_infos(sites: Sequence[JiraSite], app_key: str) -> list[dict[str, Any]]:
    """The clientInfo record ACE's /installed would store for each site: the install body, a new sharedSecret.

    ACE's authenticate() reads ``sharedSecret``, ``baseUrl`` and ``key`` of it (lib/middleware/authentication.js).
    """
    return [
        {
            "key": app_key,
            "clientKey": site.client_key,
            "baseUrl": site.base_url,
            "productType": "jira",
            "description": f"Atlassian JIRA at {site.base_url}",
            "eventType": "installed",
            "oauthClientId": site.state.oauth_client_id(app_key),
            "sharedSecret": tokens.new_shared_secret(),
        }
        for site in sites
    ]


def database_server(app_database_url: str) -> str:
    """The PostgreSQL server ACE's store goes on: the app's, if the run is on PostgreSQL; else the local one."""
    return app_database_url if servers.is_postgres(app_database_url) else DEFAULT_DATABASE_SERVER


def require_database_server(server: str) -> None:
    """SystemExit, saying what to do, unless ``server`` answers (and psycopg, the postgres extra, is there)."""
    try:
        import psycopg
    except ImportError:
        raise SystemExit("--peers: ACE's store is PostgreSQL: pip install -e '.[bench,postgres]'") from None
    try:
        psycopg.connect(server, connect_timeout=5).close()
    except psycopg.Error as error:
        raise SystemExit(
            f"--peers: ACE's store is PostgreSQL (Sequelize, as ACE deploys it), and {_without_password(server)} "
            f"did not answer ({error}); start PostgreSQL there, or run with DATABASE_URL naming a server"
        ) from None


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def node_environment(variables: dict[str, str]) -> dict[str, str]:
    """This process's environment without what ACE would read as its settings, and ``variables``."""
    kept = {
        name: value
        for name, value in os.environ.items()
        if name not in _OWN_VARIABLES and not name.startswith(_OWN_PREFIXES)
    }
    return {**kept, **variables}


class AceServer(servers.ChildServer):
    """The ACE app on loopback, its baseUrl its own address (ACE computes qsh relative to it), its store on
    ``database_url``.

    ``workers``: None for one node process (app.js), else node cluster with that many workers (cluster.js).
    ``seed``: a file of clientInfo records to write into the store before listening (None: the store has them).
    Production mode, as deployed: ACE then skips its development-only work (descriptor validation, watching).
    """

    def __init__(
        self,
        name: str,
        directory: Path,
        *,
        database_url: str,
        seed: Path | None,
        workers: int | None,
        log_dir: Path,
    ) -> None:
        self.name = name
        self.directory = directory
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"{name}.log"
        variables = {
            "NODE_ENV": "production",
            "PORT": str(self.port),
            "AC_LOCAL_BASE_URL": self.url,
            "DATABASE_URL": database_url,
        }
        if seed is not None:
            variables["ACE_STORE_SEED"] = str(seed)
        if workers is not None:
            variables["ACE_WORKERS"] = str(workers)
        self._environment = node_environment(variables)

    @property
    def processes(self) -> str:
        return "one node process" if self.workers is None else f"node cluster x{self.workers}"

    def _start(self) -> subprocess.Popen[bytes]:
        script = "app.js" if self.workers is None else "cluster.js"
        with self.log_path.open("wb") as log:
            return subprocess.Popen(
                ["node", script], cwd=self.directory, env=self._environment, stdout=log, stderr=subprocess.STDOUT
            )

    def _wait_until_ready(self, process: subprocess.Popen[bytes]) -> None:
        servers.wait_until_ready(self.name, self.url + DESCRIPTOR_PATH, process, self.log_path)
        # Under cluster one worker answering proves nothing of the other: wait until each has said it listens.
        _wait_for_log(self, process, self.workers or 1)

    def cpu_seconds(self) -> float:
        """CPU time of every node process: under cluster the primary's too, as it accepts and hands out connections."""
        if self._process is None:
            return 0.0
        return servers.cpu_seconds([self._process.pid, *servers.child_pids(self._process.pid)])


@dataclass(frozen=True)
class AcePeer:
    """One ACE server and its tenants: the bench's sites, each with the ACE app recorded as installed."""

    server: AceServer
    tenants: list[workload.Tenant]


@contextmanager
def start(
    directory: Path, fake: FakeJira, sites: Sequence[JiraSite], workdir: Path, database_server_url: str
) -> Iterator[list[AcePeer]]:
    """ACE single and under cluster on one fresh database of ``database_server_url``, which holds ``sites``; each
    answers a page load before the run starts. The database is dropped afterwards."""
    app_key = str(json.loads((directory / DESCRIPTOR_PATH.lstrip("/")).read_text())["key"])
    infos = client_infos(sites, app_key)
    seed = workdir / "ace-seed.json"
    seed.write_text(json.dumps(infos))
    with ExitStack() as stack:
        database_url = stack.enter_context(servers.databases(["ace"], workdir, database_server_url))["ace"]
        # In turn: the single process creates ACE's tables and writes the tenants before the cluster starts.
        found = [
            stack.enter_context(
                AceServer(
                    name,
                    directory,
                    database_url=database_url,
                    seed=seed if workers is None else None,
                    workers=workers,
                    log_dir=workdir,
                )
            )
            for name, workers in (("ace_single", None), ("ace_cluster", CLUSTER_WORKERS))
        ]
        apps = [fake.connect_app(RequestsTransport(server.url), DESCRIPTOR_PATH) for server in found]
        granted = scopes.granted(apps[0].scopes)
        for site, info in zip(sites, infos, strict=True):
            # fake_jira learns the secret the seed gave ACE, so that it signs the page loads with it.
            site.state.record_installed(
                app_key, apps[0].name, info["sharedSecret"], info["oauthClientId"], scopes=granted
            )
        peers = [
            AcePeer(server, [workload.Tenant(site, app) for site in sites])
            for server, app in zip(found, apps, strict=True)
        ]
        for peer in peers:
            check_page_loads(peer)
        yield peers


def check_page_loads(peer: AcePeer) -> None:
    """A page load per tenant, as the run sends them: RuntimeError unless ACE answers each with 200."""
    for request in itertools.islice(workload.page_loads(peer.tenants), len(peer.tenants)):
        response = requests.get(peer.server.url + request.target, timeout=10)
        if response.status_code != 200:
            name = peer.server.name
            raise RuntimeError(f"{name} answered a page load {response.status_code}: {response.text[:300]}")


def _wait_for_log(server: AceServer, process: subprocess.Popen[bytes], count: int) -> None:
    """Until ``count`` processes have printed LISTENING; RuntimeError if the server exits or 60 s pass."""
    deadline = time.monotonic() + 60
    while server.log_path.read_text(errors="replace").count(LISTENING) < count:
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(
                f"{server.name}: {count} processes did not listen:\n{server.log_path.read_text()[-3000:]}"
            )
        time.sleep(0.1)
