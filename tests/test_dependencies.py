"""Under CI (CI=true) a missing PostgreSQL or psycopg fails the run; locally it skips, saying how to get it."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

import noxfile
from tests import dependencies
from tests.mysite.processes import ROOT, environment


class Session:
    """What tests_postgres asks of nox, recorded: a skip or an error ends the session, as in nox."""

    posargs: list[str] = []

    def __init__(self) -> None:
        self.installed: list[tuple[str, ...]] = []

    def skip(self, message: str) -> None:
        raise Skipped(message)

    def error(self, message: str) -> None:
        raise Errored(message)

    def install(self, *args: str) -> None:
        self.installed.append(args)

    def run(self, *args: str, **kwargs: object) -> None:
        raise AssertionError("pytest must not start without PostgreSQL")


class Skipped(Exception):
    pass


class Errored(Exception):
    pass


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed once the block ends: nothing listens there


@pytest.mark.parametrize(("ci", "outcome"), [("true", Errored), ("", Skipped)])
def test_nox_tests_postgres_without_a_server_fails_under_ci_and_skips_locally(monkeypatch, closed_port, ci, outcome):
    monkeypatch.setenv("CI", ci)
    monkeypatch.setenv("DATABASE_URL", f"postgres://postgres@127.0.0.1:{closed_port}/test")

    with pytest.raises(outcome, match=f"no PostgreSQL reachable at 127.0.0.1:{closed_port}.*DATABASE_URL="):
        noxfile.tests_postgres(Session())


@pytest.mark.parametrize(("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_a_missing_dependency_fails_under_ci_and_skips_locally_saying_how_to_get_it(monkeypatch, ci, outcome):
    monkeypatch.setenv("CI", ci)
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if the postgres extra were not installed

    with pytest.raises(
        outcome, match=r"psycopg \(the postgres extra\) is missing: .*pip install -e '\.\[test,postgres\]'"
    ):
        dependencies.import_psycopg()


def test_a_sqlite_run_under_ci_deselects_the_postgresql_tests_instead_of_skipping_them():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:randomly",
            "-rs",
            "tests/jira_app/test_lifecycle_concurrency.py",
        ],
        cwd=ROOT,
        env=environment({"CI": "true", "DATABASE_URL": ""}),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert "deselected" in result.stdout, result.stdout
    assert "skipped" not in result.stdout
    assert "PostgreSQL-only tests are deselected (nox -s tests_postgres runs them)" in result.stdout
