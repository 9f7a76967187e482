"""The app under test: its databases (SQLite files or fresh PostgreSQL databases) and its gunicorn servers."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self
from urllib.parse import urlsplit, urlunsplit

import requests

from fake_jira.server import free_port

ROOT = Path(__file__).resolve().parents[1]
# The project's own variables (mysite/settings.py, gunicorn.conf.py): a developer's shell must not change a run.
_OWN_VARIABLES = {"ENVIRONMENT", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "DATABASE_URL", "CONN_MAX_AGE", "STATIC_ROOT"}
_OWN_VARIABLES |= {"PORT", "WEB_CONCURRENCY", "FORWARDED_ALLOW_IPS", "CONN_HEALTH_CHECKS"}
_OWN_PREFIXES = ("ATLASSIAN_CONNECT_", "SECURE_", "DJANGO_", "JIRA_APP_", "GUNICORN_")
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def app_environment(variables: dict[str, str]) -> dict[str, str]:
    kept = {
        name: value
        for name, value in os.environ.items()
        if name not in _OWN_VARIABLES and not name.startswith(_OWN_PREFIXES)
    }
    pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**kept, "PYTHONPATH": pythonpath, **variables}


def is_postgres(url: str) -> bool:
    return urlsplit(url).scheme in ("postgres", "postgresql", "pgsql")


@contextmanager
def databases(names: list[str], workdir: Path, server_url: str) -> Iterator[dict[str, str]]:
    """A database URL per name: SQLite files in ``workdir``, or fresh databases on ``server_url``'s PostgreSQL.

    PostgreSQL databases are created for the run and dropped after it, so no existing data is touched.
    """
    if not is_postgres(server_url):
        yield {name: f"sqlite:///{workdir / name}.sqlite3" for name in names}
        return
    import psycopg

    tag = secrets.token_hex(4)
    created = {name: f"jira_bench_{tag}_{name}" for name in names}
    with psycopg.connect(server_url, autocommit=True) as admin:
        for database in created.values():
            admin.execute(f"CREATE DATABASE {database}")
    try:
        yield {
            name: urlunsplit(urlsplit(server_url)._replace(path="/" + database)) for name, database in created.items()
        }
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            for database in created.values():
                admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


def manage(database_url: str, *args: str) -> None:
    """Run ``manage.py`` (or ``-m module`` when args start with ``-m``) against ``database_url``."""
    command = [sys.executable, *(args if args[0] == "-m" else ("manage.py", *args))]
    done = subprocess.run(
        command,
        cwd=ROOT,
        env=app_environment({"DATABASE_URL": database_url}),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[1:])} failed:\n{done.stdout}\n{done.stderr}")


class Server(Protocol):
    """What a scenario measures: a server's URL, and the CPU time its serving processes have spent so far."""

    name: str
    url: str

    def cpu_seconds(self) -> float: ...


def wait_until_ready(name: str, url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    """Poll ``url`` until it answers 200; RuntimeError, with the end of the log, if the process exits or 60 s pass."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited:\n{log_path.read_text()[-3000:]}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass  # not listening yet, or a worker still starting on a busy machine
        time.sleep(0.1)
    raise RuntimeError(f"{name} did not serve within 60 s:\n{log_path.read_text()[-3000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (a graceful stop: a master stops its workers, then exits), then SIGKILL after 15 s."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class ChildServer(ABC):
    """A server in a child process: ``with`` starts it and waits until it serves, and stops it on the way out.

    Subclasses say how it starts (``_start``) and when it is ready (``_wait_until_ready``, RuntimeError if never);
    one that never gets ready is stopped before the error goes on.
    """

    _process: subprocess.Popen[bytes] | None = None

    @abstractmethod
    def _start(self) -> subprocess.Popen[bytes]: ...

    @abstractmethod
    def _wait_until_ready(self, process: subprocess.Popen[bytes]) -> None: ...

    def __enter__(self) -> Self:
        self._process = self._start()
        try:
            self._wait_until_ready(self._process)
        except RuntimeError:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        process, self._process = self._process, None
        if process is not None:
            stop(process)


class GunicornServer(ChildServer):
    """``gunicorn -c gunicorn.conf.py WSGI_MODULE`` on loopback, as deployed: sync workers, access log on.

    Every server of a run, the app's and bare Django's, runs under the project's own gunicorn.conf.py, so they
    differ only in the Django project they serve.
    """

    def __init__(
        self, name: str, wsgi: str, variables: dict[str, str], *, workers: int, log_dir: Path, ready_path: str
    ) -> None:
        self.name = name
        self.wsgi = wsgi
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ready_path = ready_path
        self.log_path = log_dir / f"gunicorn-{name}.log"
        self._environment = app_environment(
            {**variables, "GUNICORN_BIND": f"127.0.0.1:{self.port}", "WEB_CONCURRENCY": str(workers)}
        )

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def _start(self) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--no-control-socket", self.wsgi]
        with self.log_path.open("wb") as log:
            return subprocess.Popen(command, cwd=ROOT, env=self._environment, stdout=log, stderr=subprocess.STDOUT)

    def _wait_until_ready(self, process: subprocess.Popen[bytes]) -> None:
        wait_until_ready(f"gunicorn {self.name}", self.url + self.ready_path, process, self.log_path)

    def worker_pids(self) -> list[int]:
        return child_pids(self._process.pid) if self._process else []

    def cpu_seconds(self) -> float:
        """User and system CPU time of the workers so far (from /proc/PID/stat)."""
        return cpu_seconds(self.worker_pids())

    def worker_rss(self) -> dict[int, int]:
        """Resident set size of each worker, in bytes, by pid."""
        sizes = {}
        for pid in self.worker_pids():
            try:
                sizes[pid] = rss_bytes(Path(f"/proc/{pid}/status").read_text())
            except OSError:
                continue
        return sizes


def child_pids(parent: int) -> list[int]:
    """The processes whose parent is ``parent`` (from /proc/PID/stat)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # the process ended while we looked
                continue
            if int(fields[1]) == parent:
                pids.append(int(entry.name))
    return pids


def cpu_seconds(pids: Iterable[int]) -> float:
    """User and system CPU time of these processes so far (from /proc/PID/stat)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat(5)
    return total / _CLOCK_TICKS


def rss_bytes(status: str) -> int:
    """The ``VmRSS`` line of a /proc/PID/status text, in bytes (proc(5) gives it in kB, meaning KiB)."""
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            value, unit = line.split()[1:3]
            if unit != "kB":
                raise ValueError(f"unexpected unit in {line!r}")
            return int(value) * 1024
    raise ValueError("no VmRSS line: a kernel thread, or a process that has exited")


class AppServer(GunicornServer):
    """The app, ``mysite.wsgi``, on one tenant store."""

    def __init__(
        self, name: str, database_url: str, *, base_url: str, keys_url: str, workers: int, log_dir: Path
    ) -> None:
        variables = {
            "DATABASE_URL": database_url,
            "ATLASSIAN_CONNECT_BASE_URL": base_url,
            "ATLASSIAN_CONNECT_INSTALL_KEYS_URL": keys_url,
        }
        super().__init__(
            name, "mysite.wsgi", variables, workers=workers, log_dir=log_dir, ready_path="/jira/atlassian-connect.json"
        )


class BareServer(GunicornServer):
    """Bare Django (benchmarks/bare): no middleware, no database, one view returning a short string."""

    def __init__(self, *, workers: int, log_dir: Path) -> None:
        variables = {"DJANGO_SETTINGS_MODULE": "benchmarks.bare.settings"}
        super().__init__("bare", "benchmarks.bare.wsgi", variables, workers=workers, log_dir=log_dir, ready_path="/")
