"""Where a request's time goes, per scenario: ``python -m benchmarks.breakdown`` (benchmarks/README.md).

Starts the servers as ``benchmarks.run`` does (bare Django and the app on a small store), and for each scenario
sends load while py-spy samples the gunicorn workers (``--nonblocking``: the workers are never paused). Each
sampled stack is put in one bucket (connection handling, gunicorn, each middleware, token read, lookup,
decryption, signature, qsh, view, template, response, access log, ...) by the rules in RULES, and the table
gives the microseconds per request of each bucket: its share of the samples times the workers' CPU time per
request, measured from /proc over the same run.

The stacks are kept (``--output``, one ``SCENARIO.folded`` file each, py-spy's collapsed format, with
``breakdown.json``); ``--regroup DIR`` prints the table again from them, e.g. after changing the rules.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python benchmarks/breakdown.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import run, servers

SCENARIOS = ["bare", "baseline", "page", "context", "webhook", "install"]
IDLE = "idle"  # a worker waiting for a connection: not part of any request, left out of every total
TORN = "torn"  # a stack read while it changed (--nonblocking), without the worker's loop: left out too
OTHER = "other"
_LEFT_OUT = {IDLE, TORN}


@dataclass(frozen=True)
class Rule:
    """Frames of files matching ``path`` (a glob on the path below site-packages, the project or the stdlib),
    and of functions matching ``function`` (a regular expression; None: any), belong to ``bucket``.

    ``{module}`` in a bucket name becomes the frame's module (``middleware: django.middleware.csrf``).
    """

    bucket: str
    path: str
    function: str | None = None

    def matches(self, frame: Frame) -> bool:
        return fnmatch.fnmatchcase(frame.path, self.path) and (
            self.function is None or re.search(self.function, frame.function) is not None
        )

    def bucket_for(self, frame: Frame) -> str:
        return self.bucket.format(module=frame.path.removesuffix(".py").removesuffix("/__init__").replace("/", "."))


# A sample belongs to the innermost frame matched by a rule of RULES, looking outwards from where the worker
# was; a frame of GENERIC_RULES (Django's and gunicorn's own code) takes it only if no frame of RULES does.
# Django wraps every middleware's get_response and the view call in BARRIER: a rule does not take samples from
# inside a BARRIER frame nested in its own, so a middleware's __call__ is not charged with what follows it.
RULES = [
    Rule(IDLE, "gunicorn/workers/sync.py", r"^wait$"),
    Rule("connection handling", "gunicorn/http/unreader.py"),
    Rule("connection handling", "gunicorn/util.py", r"^(write\w*|close\w*|sendfile)$"),
    Rule("connection handling", "socket.py"),
    Rule("access log", "gunicorn/glogging.py"),
    Rule("token read", "jira_app/authentication.py", r"^(token_from_request|_query_parameter)$"),
    Rule("token read", "jira_app/tokens.py", r"^(read_unverified|_b64_json)$"),
    Rule("lookup", "jira_app/models.py", r"^(for_authentication|_authentication_sql)$"),
    Rule("decryption", "jira_app/crypto.py"),
    Rule("qsh", "jira_app/qsh.py"),
    Rule("qsh", "jira_app/tokens.py", r"^_check_qsh$"),
    Rule("qsh", "atlassian_jwt/*"),
    Rule("install key", "jira_app/install_keys.py"),
    Rule("install key", "jira_app/tokens.py", r"^load_public_key$"),
    Rule("signature", "jira_app/tokens.py", r"^(_decode|verify_\w+)$"),
    Rule("signature", "jwt/*"),
    Rule("lifecycle (install)", "jira_app/lifecycle.py"),
    Rule("webhook store", "jira_app/webhooks.py"),
    Rule("template", "django/template/*"),
    Rule("template", "django/shortcuts.py"),
    Rule("response", "django/http/response.py"),
    Rule("middleware: {module}", "*/middleware.py"),
    Rule("middleware: {module}", "*/middleware/*.py"),
    Rule("view", "jira_app/views.py"),
    Rule("view", "django/views/decorators/*"),
    Rule("view", "benchmarks/bare/urls.py"),
]
GENERIC_RULES = [
    Rule("Django core (handler, request, URL resolving)", "django/*"),
    Rule("gunicorn (worker loop, HTTP parser, WSGI environ)", "gunicorn/*"),
]
BARRIER = Rule("", "django/core/handlers/exception.py", r"^inner$")

_FRAME = re.compile(r"^(?P<function>.*) \((?P<path>[^()]*?)(?::\d+)?\)$")
_PROCESS = re.compile(r"^process (?P<pid>\d+):")
# Where module paths begin, in the order tried: installed packages, the project, the standard library.
_PATH_ROOTS = [re.compile(r".*/(?:site|dist)-packages/"), re.compile(re.escape(str(servers.ROOT)) + "/")]
_PATH_ROOTS.append(re.compile(r".*/lib/python3\.\d+/"))


@dataclass(frozen=True)
class Frame:
    function: str
    path: str  # below site-packages, the project or the standard library: "django/http/response.py"


def module_path(path: str) -> str:
    for root in _PATH_ROOTS:
        found = root.match(path)
        if found:
            return path[found.end() :]
    return path


def parse_folded(lines: Iterable[str], pids: set[int] | None = None) -> Iterable[tuple[list[Frame], int]]:
    """(stack from the outermost frame, sample count) per line of py-spy's ``--format raw`` output.

    With ``--subprocesses`` a stack starts with its process: only those of ``pids`` are kept (None: all).
    """
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = []
        keep = True
        for part in stack.split(";"):
            process = _PROCESS.match(part)
            if process:
                keep = pids is None or int(process["pid"]) in pids
                continue
            found = _FRAME.match(part)
            if found:
                frames.append(Frame(found["function"], module_path(found["path"])))
        if keep and frames:
            yield frames, int(count)


def bucket_of(stack: list[Frame]) -> str:
    """The bucket of a sample whose stack runs from the outermost frame (``stack[0]``) to where it was."""
    if not any(frame.path.startswith("gunicorn/workers/") for frame in stack):
        return TORN  # every stack of a worker runs inside its loop; py-spy read this one half-way through a change
    generic = None
    behind_barrier = False
    for frame in reversed(stack):
        if BARRIER.matches(frame):
            behind_barrier = True
            continue
        if not behind_barrier:
            rule = next((r for r in RULES if r.matches(frame)), None)
            if rule is not None:
                return rule.bucket_for(frame)
        if generic is None:
            generic = next((r.bucket_for(frame) for r in GENERIC_RULES if r.matches(frame)), None)
    return generic or OTHER


def group(samples: Iterable[tuple[list[Frame], int]]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for stack, count in samples:
        counts[bucket_of(stack)] += count
    return counts


def per_request(counts: Counter[str], *, requests: int, worker_seconds: float) -> dict[str, float]:
    """Microseconds per request of each bucket: its share of all samples (idle ones included) of the time the
    workers were sampled (``worker_seconds``: the run's length times the workers), over the requests served.

    Shares, not the nominal sampling rate: a py-spy that falls behind on a busy machine takes fewer samples
    than asked, alike for every bucket.
    """
    total = sum(count for bucket, count in counts.items() if bucket != TORN)
    if not requests or not total:
        return {}
    return {
        bucket: round(count / total * worker_seconds / requests * 1e6, 1)
        for bucket, count in counts.most_common()
        if bucket not in _LEFT_OUT
    }


def table(breakdown: dict[str, dict[str, Any]]) -> str:
    """Buckets down, scenarios across, µs per request in the cells."""
    scenarios = list(breakdown)
    buckets: list[str] = []
    for name in scenarios:
        buckets += [b for b in breakdown[name]["us_per_request"] if b not in buckets]
    rows = [["µs per request", *scenarios]]
    for bucket in buckets:
        cells = [breakdown[name]["us_per_request"].get(bucket) for name in scenarios]
        rows.append([bucket, *("" if cell is None else f"{cell:,.1f}" for cell in cells)])
    totals = [sum(breakdown[name]["us_per_request"].values()) for name in scenarios]
    rows.append(["total sampled", *(f"{total:,.1f}" for total in totals)])
    rows.append(
        ["worker CPU per request (/proc)", *(f"{breakdown[n]['worker_cpu_us_per_request']:,.1f}" for n in scenarios)]
    )
    rows.append(["samples (busy)", *(f"{breakdown[n]['samples']:,}" for n in scenarios)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    )


def summarise(
    folded: Path, *, requests: int, cpu_us_per_request: float, worker_seconds: float, pids: set[int] | None
) -> dict[str, Any]:
    # A torn stack may hold bytes that are not text at all.
    with folded.open(encoding="utf-8", errors="replace") as lines:
        counts = group(parse_folded(lines, pids))
    return {
        "requests": requests,
        "worker_cpu_us_per_request": round(cpu_us_per_request, 1),
        "samples": sum(count for bucket, count in counts.items() if bucket not in _LEFT_OUT),
        "idle_samples": counts.get(IDLE, 0),
        "torn_samples": counts.get(TORN, 0),
        "worker_seconds": round(worker_seconds, 3),
        "us_per_request": per_request(counts, requests=requests, worker_seconds=worker_seconds),
    }


class Sampler:
    """``py-spy record`` on a gunicorn master and its workers, from start until stop()."""

    def __init__(self, executable: str, pid: int, output: Path, rate: int) -> None:
        self.output = output
        command = [executable, "record", "--pid", str(pid), "--subprocesses", "--nonblocking", "--full-filenames"]
        # --idle: waiting samples too (the IDLE rule sets them apart), so that shares are of the whole run.
        command += ["--rate", str(rate), "--format", "raw", "--output", str(output), "--idle"]
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self._started = time.monotonic()
        self.seconds = 0.0  # how long it sampled: all its samples, idle ones included, fall in this time

    def stop(self) -> None:
        self._process.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        self.seconds = time.monotonic() - self._started
        out, _ = self._process.communicate(timeout=60)
        if not self.output.exists():
            raise RuntimeError(f"py-spy wrote no profile (exit {self._process.returncode}):\n{out[-2000:]}")


def profile(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    beside = Path(sys.executable).with_name("py-spy")  # the virtualenv's, whether or not its bin is on PATH
    executable = str(beside) if beside.exists() else shutil.which("py-spy")
    if executable is None:
        raise SystemExit("py-spy is not installed: pip install -e '.[bench]' (or nox -s bench -- ... uses it)")
    client = run.choose_client(args)
    breakdown = {}
    args.output.mkdir(parents=True, exist_ok=True)
    try:
        with run.start(args, large_tenants=None) as bench:
            scenarios = {s.name: s for s in bench.scenarios(0)}
            for name in args.scenarios:
                scenario = scenarios[name]
                scenario.warmup = run.measure(scenario, client, args.warmup, args.connections, bench.workdir)
                folded = args.output / f"{name}.folded"
                folded.unlink(missing_ok=True)
                server = scenario.server
                if not isinstance(server, servers.GunicornServer) or server.pid is None:
                    raise RuntimeError(f"the {server.name} server is not a running gunicorn")
                workers = server.worker_pids()
                sampler = Sampler(executable, server.pid, folded, args.rate)
                try:
                    measured = run.measure(scenario, client, args.duration, args.connections, bench.workdir)
                finally:
                    sampler.stop()
                if measured.non_2xx or measured.socket_errors:
                    raise RuntimeError(f"{name}: {measured.non_2xx + measured.socket_errors} requests refused or lost")
                breakdown[name] = {
                    **summarise(
                        folded,
                        requests=measured.requests,
                        cpu_us_per_request=measured.worker_cpu_us,
                        worker_seconds=sampler.seconds * len(workers),
                        pids=set(workers),
                    ),
                    "workers": workers,
                }
                print(f"{name}: {measured.requests:,} requests, {breakdown[name]['samples']:,} samples", flush=True)
    finally:
        client.close()
    return breakdown


def regroup(directory: Path) -> dict[str, dict[str, Any]]:
    document = json.loads((directory / "breakdown.json").read_text())
    saved = document["scenarios"]
    return {
        name: {
            **summarise(
                directory / f"{name}.folded",
                requests=found["requests"],
                cpu_us_per_request=found["worker_cpu_us_per_request"],
                worker_seconds=found["worker_seconds"],
                pids=set(found["workers"]),
            ),
            "workers": found["workers"],
        }
        for name, found in saved.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_server_arguments(parser)
    parser.add_argument("--scenarios", type=lambda text: text.split(","), default=SCENARIOS, help=",".join(SCENARIOS))
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of sampled load per scenario")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before sampling starts")
    parser.add_argument("--rate", type=int, default=1000, help="py-spy samples per second and process")
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("results") / "breakdown")
    parser.add_argument("--regroup", type=Path, metavar="DIR", help="print the table again from a past run's files")
    args = parser.parse_args(argv)
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}: choose from {SCENARIOS}")
    if args.regroup:
        breakdown = regroup(args.regroup)
    else:
        breakdown = profile(args)
        method = {"duration_s": args.duration, "rate_hz": args.rate}
        document = {"method": method, "scenarios": breakdown}
        (args.output / "breakdown.json").write_text(json.dumps(document, indent=2) + "\n")
    print(table(breakdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
