"""Developer tasks. ``nox`` runs lint, typecheck and tests; ``nox -s demo`` plays the Connect story.

Every session installs what it needs from the pinned extras in pyproject.toml. Once the environments exist,
``nox -R`` reuses them and needs no network.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.default_venv_backend = "venv"
nox.options.error_on_missing_interpreters = True

# pyenv's shims answer only for the versions PYENV_VERSION names, and `pyenv exec` (which runs `python3 -m nox`)
# sets it to one: add every installed 3.11-3.13 so the matrix finds its interpreters.
_PYENV_VERSIONS = os.path.join(os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv")), "versions")
if os.path.isdir(_PYENV_VERSIONS):
    _current = [v for v in os.environ.get("PYENV_VERSION", "").split(":") if v]
    _installed = sorted(v for v in os.listdir(_PYENV_VERSIONS) if v.startswith(("3.11.", "3.12.", "3.13.")))
    os.environ["PYENV_VERSION"] = ":".join(dict.fromkeys(_current + _installed))

# The direct dependencies are pinned in pyproject.toml; this pins what they pull in.
CONSTRAINTS = ("-c", "requirements/constraints.txt")
TEST_ENV = {"PYTHONDEVMODE": "1", "PYTHONWARNINGS": "error::DeprecationWarning"}
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/test"


@nox.session
def demo(session: nox.Session) -> None:
    """The Connect JWT story: the app under gunicorn on loopback, a fresh SQLite file, fake_jira's HTTP server."""
    session.install(*CONSTRAINTS, "-e", ".")
    database = os.path.abspath(os.path.join(session.create_tmp(), "demo.sqlite3"))
    if os.path.exists(database):
        os.remove(database)  # a fresh tenant store on every run
    env = {"DATABASE_URL": f"sqlite:///{database}", "ENVIRONMENT": "dev", "WEB_CONCURRENCY": "2"}
    session.run("python", "manage.py", "migrate", "--noinput", "--verbosity", "0", env=env)
    # --bind wins over gunicorn.conf.py, which listens on every interface when PORT is set.
    app = "gunicorn -c gunicorn.conf.py --bind 127.0.0.1:$PORT --no-control-socket mysite.wsgi"
    session.run("python", "-m", "fake_jira", "demo", "--app-command", app, env=env)


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
        session.skip(f"no PostgreSQL reachable at {parts.hostname}:{parts.port or 5432} ({exc}): set DATABASE_URL")
    session.install(*CONSTRAINTS, "-e", ".[test,postgres]")
    session.run("pytest", *session.posargs, env={**TEST_ENV, "DATABASE_URL": url})


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
    session.install(*CONSTRAINTS, "-e", ".[bench,postgres]")
    env = {"DATABASE_URL": os.environ.get("DATABASE_URL", "")}
    session.run("python", "-m", "benchmarks.run", *session.posargs, env=env)


@nox.session
def mutation(session: nox.Session) -> None:
    """Mutation testing of jira_app's security-critical modules; `-- qsh tokens` limits the run (slow: not default).

    The modules are [tool.mutmut] only_mutate in pyproject.toml; tests/mutation/equivalents.toml lists the
    mutants judged equivalent. Fails when a module's tests kill under 90 % of its mutants.
    """
    session.install(*CONSTRAINTS, "-e", ".[test,mutation]")
    session.run("python", "-m", "tests.mutation.run", *session.posargs, env={"DATABASE_URL": ""})
