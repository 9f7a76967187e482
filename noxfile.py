"""Developer tasks. ``nox`` runs lint, typecheck and tests; ``nox -s demo`` plays the Connect story.

Every session installs what it needs from the pinned extras in pyproject.toml. Once the environments exist,
``nox -R`` reuses them and needs no network.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
from urllib.parse import urlsplit

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
# uv (pinned in requirements/nox.txt, which the README's commands install) builds each session's environment
# several times faster than venv + pip; plain venv is the fallback where uv is absent.
nox.options.default_venv_backend = "uv|venv"
nox.options.error_on_missing_interpreters = True

# pyenv's shims answer only for the versions PYENV_VERSION names, and `pyenv exec` (which runs `python3 -m nox`)
# sets it to one: add every installed 3.11-3.13 so the matrix finds its interpreters.
_PYENV_VERSIONS = os.path.join(os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv")), "versions")
if os.path.isdir(_PYENV_VERSIONS):
    _current = [v for v in os.environ.get("PYENV_VERSION", "").split(":") if v]
    _installed = sorted(v for v in os.listdir(_PYENV_VERSIONS) if v.startswith(("3.11.", "3.12.", "3.13.")))
    os.environ["PYENV_VERSION"] = ":".join(dict.fromkeys(_current + _installed))

# Like pip, uv trusts the system's certificate store, so a proxy whose CA the machine trusts works for both.
os.environ.setdefault("UV_SYSTEM_CERTS", "1")

# The direct dependencies are pinned in pyproject.toml; this pins what they pull in.
CONSTRAINTS = ("-c", "requirements/constraints.txt")
TEST_ENV = {"PYTHONDEVMODE": "1", "PYTHONWARNINGS": "error::DeprecationWarning"}
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/test"
# The demo's Forge app: what `forge register` would have written into forge/manifest.yml's app.id.
DEMO_FORGE_APP_ID = "ari:cloud:ecosystem::app/3f0c2b9e-5d1a-4c6b-9a27-1e8d4f7a6b05"


@nox.session
def demo(session: nox.Session) -> None:
    """The Connect JWT story, then its Forge chapter: the app under gunicorn on loopback, a fresh SQLite file,
    fake_jira's HTTP server playing Jira and Forge."""
    session.install(*CONSTRAINTS, "-e", ".")
    database = os.path.abspath(os.path.join(session.create_tmp(), "demo.sqlite3"))
    if os.path.exists(database):
        os.remove(database)  # a fresh tenant store on every run
    env = {"DATABASE_URL": f"sqlite:///{database}", "ENVIRONMENT": "dev", "WEB_CONCURRENCY": "2"}
    session.run("python", "manage.py", "migrate", "--noinput", "--verbosity", "0", env=env)
    # --bind wins over gunicorn.conf.py, which listens on every interface when PORT is set.
    app = "gunicorn -c gunicorn.conf.py --bind 127.0.0.1:$PORT --no-control-socket mysite.wsgi"
    # The webhook chapter reads back what the app stored through its own dumpdata (fake_jira.demo.readback).
    stored = "python manage.py dumpdata jira_app.WebhookDelivery"
    # The Forge chapter: the app gets this ARI and fake_jira's JWKS as its Forge settings.
    forge = ["--forge-app-id", DEMO_FORGE_APP_ID]
    demo_args = ["--app-command", app, "--stored-webhooks-command", stored, *forge, *session.posargs]
    # The command line runs past the demo's 100 columns: say what runs instead of echoing it.
    session.log("python -m fake_jira demo: the app under gunicorn, fake_jira's server, the story, Forge")
    session.run("python", "-m", "fake_jira", "demo", *demo_args, env=env, log=False)


@nox.session
def tests(session: nox.Session) -> None:
    """The whole suite on the embedded SQLite database."""
    session.install(*CONSTRAINTS, "-e", ".[test]")
    session.run("pytest", *session.posargs, env={**TEST_ENV, "DATABASE_URL": ""})


@nox.session(name="tests_postgres")
def tests_postgres(session: nox.Session) -> None:
    """The whole suite on PostgreSQL: DATABASE_URL, else the local server at 127.0.0.1:5432."""
    url = os.environ.get("DATABASE_URL") or DEFAULT_POSTGRES_URL
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), timeout=3).close()
    except OSError as exc:
        message = (
            f"no PostgreSQL reachable at {parts.hostname}:{parts.port or 5432} ({exc}): start one (user postgres, "
            "trust authentication) or set DATABASE_URL=postgres://user@host:5432/name"
        )
        # The same rule as tests/dependencies.py, which nox cannot import: under CI nothing may skip.
        if os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}:
            session.error(message)
        session.skip(message)
    session.install(*CONSTRAINTS, "-e", ".[test,postgres]")
    session.run("pytest", *session.posargs, env={**TEST_ENV, "DATABASE_URL": url})


@nox.session
def fuzz(session: nox.Session) -> None:
    """The fuzz suite's long profile on SQLite, then on PostgreSQL (DATABASE_URL, else 127.0.0.1:5432).

    With CI=true a PostgreSQL that cannot be reached fails the session; elsewhere that half is skipped.
    """
    session.install(*CONSTRAINTS, "-e", ".[test,postgres]")
    args = ["tests/jira_app/test_fuzz.py", "-p", "no:randomly", "--hypothesis-profile=long",
            "--hypothesis-show-statistics", *session.posargs]  # fmt: skip
    session.run("pytest", *args, env={**TEST_ENV, "DATABASE_URL": ""})
    url = os.environ.get("DATABASE_URL") or DEFAULT_POSTGRES_URL
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), timeout=3).close()
    except OSError as exc:
        message = f"no PostgreSQL reachable at {parts.hostname}:{parts.port or 5432} ({exc})"
        if os.environ.get("CI", "").lower() == "true":
            session.error(f"{message}: CI needs it; start it or set DATABASE_URL")
        session.skip(f"{message}: the PostgreSQL half is skipped; set DATABASE_URL or start a local server")
    session.run("pytest", *args, env={**TEST_ENV, "DATABASE_URL": url})


@nox.session(name="tests_matrix")
@nox.parametrize(
    ("python", "django"),
    [("3.11", "5.2.19"), ("3.12", "5.2.19"), ("3.12", "6.0.10"), ("3.13", "6.1.3")],
    ids=["py3.11-django5.2", "py3.12-django5.2", "py3.12-django6.0", "py3.13-django6.1"],
)
def tests_matrix(session: nox.Session, django: str) -> None:
    """The suite across supported Python and Django versions (Django 6 needs Python 3.12 or newer)."""
    session.install(*CONSTRAINTS, "-e", ".[test]")
    # The project pins Django 5.2 LTS; the matrix swaps it for the version under test.
    session.install("--no-deps", f"Django=={django}")
    session.run("pytest", *session.posargs, env={**TEST_ENV, "DATABASE_URL": ""})


@nox.session
def lint(session: nox.Session) -> None:
    session.install(*CONSTRAINTS, "-e", ".[lint]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install(*CONSTRAINTS, "-e", ".[test,typecheck,postgres]")
    session.run("mypy", "jira_app", "mysite", "fake_jira")


@nox.session
def bench(session: nox.Session) -> None:
    """Throughput under gunicorn on loopback (benchmarks/README.md): SQLite, or PostgreSQL if DATABASE_URL is set."""
    _run_bench(session)


@nox.session(name="bench_peers")
def bench_peers(session: nox.Session) -> None:
    """bench, with atlassian-connect-express (tests/peers/ace_app, from npm) single and under node cluster x2 beside
    the app (benchmarks/README.md). Needs Node.js and npm: without them it skips locally and fails under CI=true.
    ACE's store is PostgreSQL: DATABASE_URL's server, else 127.0.0.1:5432; the run stops, saying so, without it."""
    app_dir = _ace_app(session)
    _run_bench(session, "--peers", env={ACE_DIR_VARIABLE: app_dir})


def _run_bench(session: nox.Session, *args: str, env: dict[str, str] | None = None) -> None:
    session.install(*CONSTRAINTS, "-e", ".[bench,postgres]")
    _install_wrk(session)
    env = {"DATABASE_URL": os.environ.get("DATABASE_URL", ""), **(env or {})}
    session.run("python", "-m", "benchmarks.run", *args, *session.posargs, env=env)


# Atlassian's connect-js and jQuery, as fake_jira's host page serves them: pinned with their sha512 in this
# lockfile, installed by `npm ci` into nox's cache (one folder per lockfile), never into the repository.
CONNECT_JS_LOCK = os.path.join("fake_jira", "browser", "npm", "package-lock.json")


def _connect_js(session: nox.Session) -> str | None:
    """``node_modules`` with connect-js, installed by ``npm ci`` once per lockfile; None without npm."""
    npm = shutil.which("npm")
    if npm is None:
        return None
    with open(CONNECT_JS_LOCK, "rb") as lock:
        digest = hashlib.sha256(lock.read()).hexdigest()[:16]
    folder = os.path.join(session.cache_dir, f"connect-js-{digest}")
    node_modules = os.path.join(folder, "node_modules")
    if not os.path.exists(os.path.join(node_modules, ".package-lock.json")):
        os.makedirs(folder, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(os.path.join(os.path.dirname(CONNECT_JS_LOCK), name), folder)
        # ci: exactly the lockfile, each tarball checked against its sha512; no install scripts run.
        session.run(npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--prefix", folder, external=True)
    return os.path.abspath(node_modules)


@nox.session
def dev(session: nox.Session) -> None:
    """The app inside fake_jira's Jira-like host page: a migrated temp SQLite, two sites; prints the URLs."""
    session.install(*CONSTRAINTS, "-e", ".")
    node_modules = _connect_js(session)
    if node_modules is None:
        session.error("npm not found: install Node.js and npm (Debian: apt-get install nodejs npm)")
    database = os.path.abspath(os.path.join(session.create_tmp(), "dev.sqlite3"))
    if os.path.exists(database):
        os.remove(database)  # a fresh tenant store on every run, as the sites are new too
    env = {
        "DATABASE_URL": f"sqlite:///{database}",
        "ENVIRONMENT": "dev",
        "WEB_CONCURRENCY": "2",
        "FAKE_JIRA_NODE_MODULES": node_modules,
    }
    session.run("python", "manage.py", "migrate", "--noinput", "--verbosity", "0", env=env)
    app = "gunicorn -c gunicorn.conf.py --bind 127.0.0.1:$PORT --no-control-socket mysite.wsgi"
    session.run("python", "-m", "fake_jira.browser", "--app-command", app, *session.posargs, env=env)


@nox.session
def browser(session: nox.Session) -> None:
    """tests/browser/ in headless Chromium (Debian's, by path; Playwright never downloads one)."""
    never_download = {"PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"}
    session.install(*CONSTRAINTS, "-e", ".[test,browser]", env=never_download)
    env = {**TEST_ENV, **never_download, "DATABASE_URL": ""}
    node_modules = _connect_js(session)
    if node_modules is not None:
        env["FAKE_JIRA_NODE_MODULES"] = node_modules
    # Without Chromium or npm the tests skip saying how to get them, or fail with CI=true (tests/browser/).
    session.run("pytest", "-m", "browser", "tests/browser", *session.posargs, env=env)


@nox.session(venv_backend="none")
def forge(session: nox.Session) -> None:
    """forge/manifest.yml, validated offline: Atlassian's @forge/manifest (FULL validation, pinned with its
    integrity hashes in forge/validate/package-lock.json) plus the scope check, and the validator's own test
    that broken copies of the manifest fail. Node.js is needed: without it this skips, or fails with CI=true."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        message = "Node.js 20+ and npm are needed to validate the Forge manifest (Debian: apt-get install nodejs npm)"
        if os.environ.get("CI") == "true":
            session.error(message)
        session.skip(message)
    source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "forge")
    validator = os.path.join(session.create_tmp(), "forge-validate")
    # The validator runs from a copy: node_modules never lands in the repository.
    shutil.rmtree(validator, ignore_errors=True)
    shutil.copytree(os.path.join(source, "validate"), validator, ignore=shutil.ignore_patterns("node_modules"))
    with session.chdir(validator):
        # npm ci installs exactly the lockfile and checks every package against its sha512 integrity hash.
        session.run("npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--prefer-offline", external=True)
        session.run("node", "selftest.mjs", os.path.join(source, "manifest.yml"), external=True)


def _install_wrk(session: nox.Session) -> None:
    """wrk from the system's packages where this session may install them (root with apt); else say what it costs."""
    if shutil.which("wrk"):
        return
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        install = ("apt-get", "install", "-y", "--no-install-recommends", "wrk")
        session.run(*install, external=True, success_codes=[0, 100])
        if not shutil.which("wrk"):  # the package lists may be stale or missing (a fresh container)
            session.run("apt-get", "update", external=True, success_codes=[0, 100])
            session.run(*install, external=True, success_codes=[0, 100])
    if not shutil.which("wrk"):
        session.warn(
            "wrk is NOT installed, and this session could not install it (it runs apt-get only as root). The Python "
            "client takes its place, and it FLATTENS EVERY THROUGHPUT RATIO: install wrk (apt-get install wrk)."
        )


# Where the npm-installed ACE app is, for tests/peers (tests/peers/conftest.py) and benchmarks/peers.py.
ACE_DIR_VARIABLE = "FAKE_JIRA_ACE_DIR"


def _ace_app(session: nox.Session) -> str:
    """tests/peers/ace_app with ACE installed from npm, pinned and integrity-checked by its committed
    package-lock.json, in this session's temporary folder (never in the repository). Without Node.js and npm the
    session skips, or fails under CI=true."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        message = (
            f"{session.name} needs {' and '.join(missing)}: install Node.js 18 or newer with npm "
            "(Debian: apt-get install nodejs npm; elsewhere https://nodejs.org/en/download)"
        )
        if os.environ.get("CI") == "true":
            session.error(message)
        session.skip(message)
    app_dir = os.path.join(session.create_tmp(), "ace_app")
    shutil.rmtree(app_dir, ignore_errors=True)
    # node_modules of a local `npm install` stays behind: only the app's own source and lock file are copied.
    shutil.copytree("tests/peers/ace_app", app_dir, ignore=shutil.ignore_patterns("node_modules"))
    # --ignore-scripts: nothing runs at install time; --omit=optional: ACE's ngrok tunnel is not needed.
    npm_ci = ("npm", "ci", "--omit=optional", "--ignore-scripts", "--no-audit", "--no-fund")
    with session.chdir(app_dir):
        session.run(*npm_ci, external=True)
    return os.path.abspath(app_dir)


@nox.session(name="check_peers")
def check_peers(session: nox.Session) -> None:
    """fake_jira check against a minimal atlassian-connect-express app (tests/peers/ace_app), its verdicts asserted.

    ACE comes from npm (``_ace_app``). Needs Node.js and npm: without them the session skips locally and fails
    under CI=true. The bench's ACE servers (tests/peers/test_bench_ace.py) keep ACE's store on the PostgreSQL at
    127.0.0.1:5432, the same rule applying to it.
    """
    app_dir = _ace_app(session)
    session.install(*CONSTRAINTS, "-e", ".[test,postgres]")
    env = {**TEST_ENV, "DATABASE_URL": "", ACE_DIR_VARIABLE: app_dir}
    session.run("pytest", "tests/peers", "-p", "no:randomly", *session.posargs, env=env)


@nox.session
def mutation(session: nox.Session) -> None:
    """Mutation testing of jira_app's security-critical modules; `-- qsh tokens` limits the run (slow: not default).

    The modules are [tool.mutmut] only_mutate in pyproject.toml; tests/mutation/equivalents.toml lists the
    mutants judged equivalent. Fails when a module's tests kill under 90 % of its mutants.
    """
    session.install(*CONSTRAINTS, "-e", ".[test,mutation]")
    session.run("python", "-m", "tests.mutation.run", *session.posargs, env={"DATABASE_URL": ""})
