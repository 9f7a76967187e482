"""Load generators: wrk (C, from Debian's package) where it is installed, else a Python client.

Both send the requests of a file (benchmarks/workload.py) in order, cycling if the run outlasts the file,
over a fixed number of connections for a fixed time, and count the responses that are not 2xx. gunicorn's
sync workers close the connection after each response, so every request opens a new TCP connection, with
either client.

The Python client runs on the same two cores as the app and spends far more CPU per request than wrk:
throughput then measures client and server together, which flattens the ratios between scenarios (a constant
client cost is added to each). The worker CPU per request, measured from /proc whichever client runs, does
not depend on the client.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import multiprocessing.pool
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from benchmarks.workload import read_requests

LUA_SCRIPT = Path(__file__).with_name("requests.lua")
PYTHON_CLIENT_WARNING = """
************************************************************************************************************
*  wrk is not in use: the Python client sends the requests. It shares the two cores with the servers and    *
*  costs far more per request than wrk, so it FLATTENS EVERY THROUGHPUT RATIO (each scenario pays the same  *
*  client cost). Compare the worker CPU figures, or install wrk (apt-get install wrk) and run again.         *
************************************************************************************************************
"""


@dataclass(frozen=True)
class RunResult:
    requests: int
    seconds: float
    non_2xx: int
    socket_errors: int
    p50_ms: float | None = None
    p99_ms: float | None = None

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


class LoadGenerator(Protocol):
    name: str

    def describe(self) -> str: ...

    def run(self, url: str, request_file: Path, seconds: float, connections: int) -> RunResult: ...

    def close(self) -> None: ...


class Wrk:
    name = "wrk"

    def __init__(self, executable: str, threads: int) -> None:
        self.executable = executable
        self.threads = threads

    def describe(self) -> str:
        version = subprocess.run([self.executable, "-v"], capture_output=True, text=True, check=False)
        words = (version.stdout or version.stderr).split()  # "wrk 4.1.0 [epoll] Copyright ..."
        return f"{' '.join(words[:2]) or 'wrk'}, {self.threads} thread(s)"

    def run(self, url: str, request_file: Path, seconds: float, connections: int) -> RunResult:
        threads = min(self.threads, connections)
        # wrk takes whole seconds only.
        command = [self.executable, "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s"]
        command += ["--timeout", "10s", "-s", str(LUA_SCRIPT), url, "--", str(request_file), str(threads)]
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=seconds + 60)
        summary = next((line for line in done.stdout.splitlines() if line.startswith("{")), None)
        if done.returncode != 0 or summary is None:
            raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        found = json.loads(summary)
        return RunResult(
            requests=found["requests"],
            seconds=found["duration_us"] / 1e6,
            non_2xx=found["non_2xx"],
            socket_errors=found["socket_errors"],
            p50_ms=found["p50_ms"],
            p99_ms=found["p99_ms"],
        )

    def close(self) -> None:
        pass  # one wrk process per run: nothing outlives it


def _send_loop(
    host: str, port: int, request_file: Path, part: int, parts: int, start_at: float, stop_at: float
) -> tuple[int, int, int, float, float]:
    """One client process: send its share of the file's requests in turn, one at a time, until ``stop_at``."""
    everything = read_requests(request_file)
    requests = everything[part::parts] or everything  # a file shorter than the connections: all send it all
    sent = non_2xx = errors = 0
    time.sleep(max(0.0, start_at - time.time()))
    started = time.time()
    while time.time() < stop_at:
        request = requests[sent % len(requests)]
        headers = request.header_items()
        connection = http.client.HTTPConnection(host, port, timeout=10)
        try:
            connection.request(request.method, request.target, body=request.body or None, headers=headers)
            response = connection.getresponse()
            response.read()
            non_2xx += not 200 <= response.status < 300
        except OSError:
            errors += 1
        finally:
            connection.close()
        sent += 1
    return sent, non_2xx, errors, started, time.time()


class PythonClient:
    name = "python"

    def __init__(self, why: str) -> None:
        self.why = why
        # Spawned, not forked: the parent runs fake_jira's server threads. Kept for the whole run, so that
        # no round waits for interpreters to start.
        self._context = multiprocessing.get_context("spawn")
        self._pools: dict[int, multiprocessing.pool.Pool] = {}

    def describe(self) -> str:
        return f"Python http.client, a process per connection, one request in flight each ({self.why})"

    def run(self, url: str, request_file: Path, seconds: float, connections: int) -> RunResult:
        parts = urlsplit(url)
        pool = self._pools.get(connections)
        if pool is None:
            pool = self._pools[connections] = self._context.Pool(connections)
        start_at = time.time() + 0.5  # every process has read its requests before the clock runs
        arguments = [
            (parts.hostname, parts.port, request_file, part, connections, start_at, start_at + seconds)
            for part in range(connections)
        ]
        results = pool.starmap(_send_loop, arguments)
        return RunResult(
            requests=sum(r[0] for r in results),
            seconds=max(r[4] for r in results) - min(r[3] for r in results),
            non_2xx=sum(r[1] for r in results),
            socket_errors=sum(r[2] for r in results),
        )

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
            pool.join()
        self._pools.clear()


def choose(kind: str, *, threads: int) -> LoadGenerator:
    """``wrk`` if asked for or (``auto``) installed; the Python client otherwise."""
    executable = shutil.which("wrk")
    if kind == "wrk" and executable is None:
        raise SystemExit("--client wrk: wrk is not installed (apt-get install wrk)")
    if kind in ("wrk", "auto") and executable is not None:
        return Wrk(executable, threads)
    return PythonClient("asked for" if kind == "python" else "wrk is not installed")
