"""Two app processes (gunicorn) on one PostgreSQL database, driven by fake_jira over loopback HTTP.

What a single process cannot show: a secret rotated through process A is the only one process B accepts on
its very next request (nothing in any process remembers the old one), and installs of one clientKey racing
through both processes end with one tenant row holding the secret of the install that committed last.

The processes get a database of their own, created for this module and dropped after it, so pytest-django's
test database is never touched. Both serve one ATLASSIAN_CONNECT_BASE_URL: Jira signs installs for that
``aud`` whichever process answers, and ``qsh`` ignores the host, so either process may take any request.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import pytest
import requests

from fake_jira import scopes
from fake_jira.descriptor import ConnectApp
from fake_jira.messages import Response
from fake_jira.server import ThreadedServer, free_port
from fake_jira.simulator import FakeJira
from fake_jira.sites import JiraSite
from fake_jira.tokens import Forgery, QshTarget, TokenSpec, mint, new_shared_secret
from fake_jira.transports import RequestsTransport
from tests.dependencies import import_psycopg
from tests.mysite.processes import ROOT, environment, wait_until_serving

DATABASE_URL = os.environ.get("DATABASE_URL", "")
# Two processes racing on one SQLite file would test SQLite's file lock, not the tenant row lock.
pytestmark = pytest.mark.postgresql

APP_BASE_URL = "https://jira-app.example.test"  # shared by both processes: the aud of every install
DESCRIPTOR_PATH = "/jira/atlassian-connect.json"
RACERS = 10


@dataclass(frozen=True)
class Cluster:
    fake: FakeJira
    database_url: str
    urls: tuple[str, str]  # where processes A and B listen
    app_a: ConnectApp  # the same descriptor reached through process A ...
    app_b: ConnectApp  # ... and through process B

    def query(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        psycopg = import_psycopg()  # here, not at the top: `nox -s tests` runs without the postgres extra

        with psycopg.connect(self.database_url) as connection:
            return connection.execute(sql, params).fetchall()


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    """A fresh database on DATABASE_URL's server, dropped at the end (FORCE: a stray connection cannot block it)."""
    psycopg = import_psycopg()
    name = f"jira_mp_{secrets.token_hex(6)}"
    with psycopg.connect(DATABASE_URL, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield _with_database(DATABASE_URL, name)
    finally:
        with psycopg.connect(DATABASE_URL, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="module")
def fake_server() -> Iterator[ThreadedServer]:
    """Atlassian's install-key service and the sites' REST APIs, on loopback for the app processes to call."""
    with ThreadedServer() as server:
        yield server


def _process_env(database_url: str, keys_url: str, port: int) -> dict[str, str]:
    return environment(
        {
            "DATABASE_URL": database_url,
            "ATLASSIAN_CONNECT_BASE_URL": APP_BASE_URL,
            "ATLASSIAN_CONNECT_INSTALL_KEYS_URL": keys_url,
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            # One sync worker each: everything process B remembers is in the one worker that serves it.
            "WEB_CONCURRENCY": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # gunicorn's graceful stop: the master stops its workers
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def cluster(database_url, fake_server, tmp_path_factory) -> Iterator[Cluster]:
    """Processes A and B serving the app on one migrated database; stopped whatever the tests did."""
    logs = tmp_path_factory.mktemp("multiprocess")
    keys_url = fake_server.fake.keys_url
    environments = {name: _process_env(database_url, keys_url, free_port()) for name in ("a", "b")}
    migrated = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=environments["a"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr
    processes: dict[str, subprocess.Popen[bytes]] = {}
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--no-control-socket", "mysite.wsgi"]
    try:
        for name, env in environments.items():
            with (logs / f"gunicorn-{name}.log").open("wb") as out:
                processes[name] = subprocess.Popen(  # noqa: S603 (this interpreter, fixed arguments)
                    command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
                )
        urls = {name: "http://" + env["GUNICORN_BIND"] for name, env in environments.items()}
        for name, process in processes.items():
            wait_until_serving(process, urls[name] + DESCRIPTOR_PATH, logs / f"gunicorn-{name}.log")
        fake = fake_server.fake
        with requests.Session() as session_a, requests.Session() as session_b:
            yield Cluster(
                fake=fake,
                database_url=database_url,
                urls=(urls["a"], urls["b"]),
                app_a=fake.connect_app(RequestsTransport(urls["a"], session=session_a), DESCRIPTOR_PATH),
                app_b=fake.connect_app(RequestsTransport(urls["b"], session=session_b), DESCRIPTOR_PATH),
            )
    finally:
        for process in processes.values():
            _stop(process)


def _site(cluster: Cluster, prefix: str) -> JiraSite:
    site = cluster.fake.add_site(f"{prefix}-{secrets.token_hex(4)}")
    site.add_project("MP", "Multi process")
    return site


def test_a_secret_rotated_through_one_process_is_the_only_one_the_other_accepts(cluster):
    site = _site(cluster, "rotate")
    assert site.install(cluster.app_a).status == 204
    # Process B authenticates the tenant with its first secret: whatever it could cache, it has now.
    assert site.load_page(cluster.app_b, "hello").status == 200
    assert site.call_app(cluster.app_b, "GET", "/jira/api/whoami").status == 200

    assert site.reinstall(cluster.app_a).status == 204

    # B's very next requests: the rotated-away secret is refused, on a page and on the API; the new one works.
    assert site.load_page(cluster.app_b, "hello", forgery=Forgery.PREVIOUS_SECRET).status == 401
    assert site.call_app(cluster.app_b, "GET", "/jira/api/whoami", forgery=Forgery.PREVIOUS_SECRET).status == 401
    page = site.load_page(cluster.app_b, "hello")
    assert page.status == 200, page.text
    assert site.client_key in page.text
    assert site.call_app(cluster.app_b, "GET", "/jira/api/whoami").json()["clientKey"] == site.client_key
    # And the same through A, which did the rotation.
    assert site.load_page(cluster.app_a, "hello", forgery=Forgery.PREVIOUS_SECRET).status == 401
    assert site.load_page(cluster.app_a, "hello").status == 200


def _install_request(app: ConnectApp, site: JiraSite, fake: FakeJira, racer: str) -> tuple[str, dict[str, str]]:
    """The target and headers of an ``installed`` callback signed as Jira signs it, ``racer`` its ``sub``.

    Built here rather than by ``site.install()``, which picks its own secret: the app records each install's
    ``sub`` (``racer``) on its LifecycleEvent, and that ties the order of the commits back to the secrets.
    """
    target = app.target(app.lifecycle_url("installed") or "")
    key = fake.keys.current
    spec = TokenSpec(
        "RS256",
        key.private_key,
        site.client_key,
        racer,
        QshTarget("POST", target, "", app.base_path),
        audience=(app.base_url,),
        kid=key.kid,
    )
    return target, {"Authorization": f"JWT {mint(spec)}", "Content-Type": "application/json"}


def _install_body(app: ConnectApp, site: JiraSite, secret: str) -> bytes:
    body = {
        "key": app.key,
        "clientKey": site.client_key,
        "baseUrl": site.base_url,
        "productType": "jira",
        "description": f"Atlassian JIRA at {site.base_url}",
        "eventType": "installed",
        "sharedSecret": secret,
    }
    return json.dumps(body).encode()


def _load_page(app: ConnectApp, site: JiraSite, secret: str) -> Response:
    """A page load as Jira sends it (context parameters, then ``jwt``), signed with a chosen secret."""
    path = app.target(app.module_url("hello"))
    query = urlencode({"xdm_e": site.base_url, "cp": "", "lic": "none", "loc": "en-US"})
    spec = TokenSpec("HS256", secret, site.client_key, site.admin.account_id, QshTarget("GET", path, query))
    token = mint(spec)
    return app.transport.send("GET", f"{path}?{query}&jwt={quote(token, safe='')}", headers={})


def _race_installs(cluster: Cluster, site: JiraSite, shared_secrets: list[str]) -> list[Response]:
    """Send one install per secret from its own thread, all released at once, alternately to A and B."""
    start = threading.Barrier(len(shared_secrets))

    def install(index: int) -> Response:
        app = cluster.app_a if index % 2 == 0 else cluster.app_b
        target, headers = _install_request(app, site, cluster.fake, f"racer-{index}")
        body = _install_body(app, site, shared_secrets[index])
        with requests.Session() as session:  # a connection of its own: a Session is not shared across threads
            transport = RequestsTransport(cluster.urls[index % 2], session=session)
            start.wait(timeout=30)
            return transport.send("POST", target, headers=headers, body=body)

    with ThreadPoolExecutor(max_workers=len(shared_secrets)) as pool:
        return list(pool.map(install, range(len(shared_secrets))))


@pytest.mark.parametrize("first_install", [True, False], ids=["first-installs", "reinstalls"])
def test_concurrent_installs_through_both_processes_leave_one_row_with_the_last_committed_secret(
    cluster, first_install
):
    site = _site(cluster, "race")
    app = cluster.app_a
    if not first_install:
        assert site.install(app).status == 204
    shared_secrets = [new_shared_secret() for _ in range(RACERS)]

    responses = _race_installs(cluster, site, shared_secrets)

    assert [r.status for r in responses] == [204] * RACERS, [r.text for r in responses if r.status != 204]
    hosts = cluster.query("SELECT id FROM jira_app_atlassianhost WHERE client_key = %s", (site.client_key,))
    assert len(hosts) == 1
    # Each event is written while its transaction holds the tenant's row lock: id order is commit order.
    events = cluster.query(
        "SELECT kind, account_id FROM jira_app_lifecycleevent WHERE host_id = %s ORDER BY id", (hosts[0][0],)
    )
    racers = [(kind, account) for kind, account in events if account.startswith("racer-")]
    assert sorted(account for _, account in racers) == sorted(f"racer-{i}" for i in range(RACERS))
    kinds = [kind for kind, _ in racers]
    rotations = ["secret_rotated"] * (RACERS - 1 if first_install else RACERS)
    assert kinds == (["installed", *rotations] if first_install else rotations)
    winner = shared_secrets[int(racers[-1][1].removeprefix("racer-"))]

    # The app signs its REST calls with the secret it stored: tell the simulated site which one it holds.
    site.state.record_installed(
        app.key, app.name, winner, site.state.oauth_client_id(app.key), scopes=scopes.granted(app.scopes)
    )
    for process in (cluster.app_a, cluster.app_b):
        page = _load_page(process, site, winner)
        assert page.status == 200, page.text
        assert "<code>MP</code>" in page.text, "the app's REST call was not signed with the winning secret"
        refused = [_load_page(process, site, secret).status for secret in shared_secrets if secret != winner]
        assert refused == [401] * (RACERS - 1)
