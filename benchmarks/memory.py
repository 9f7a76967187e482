"""Memory of the app's workers under a long run: RSS after warm-up, then after every chunk of requests.

The run sends a mix (page loads from the installed tenants, and context calls from every tenant of the large
store in turn, so that each is looked up and its secret decrypted) in chunks, reading each
worker's RSS from /proc after each. A bounded cache shows as growth that stops; a leak as growth that does not:
hence the growth over the second half of the run beside the growth over all of it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import loadgen, servers, workload

MIB = 2**20


@dataclass(frozen=True)
class Checkpoint:
    requests: int  # sent since warm-up when the sizes were read
    rss: dict[int, int]  # bytes, by worker pid


def run(
    server: servers.GunicornServer,
    requests: Iterator[workload.Request],
    client: loadgen.LoadGenerator,
    *,
    total: int,
    warmup: int,
    connections: int,
    workdir: Path,
    chunk_seconds: float = 10.0,
) -> tuple[list[Checkpoint], int]:
    """Send ``warmup`` requests, then at least ``total`` more; the checkpoints, and the non-2xx responses."""
    refused = 0
    rate = 5000.0
    sent = 0

    def chunk(limit: int) -> loadgen.RunResult:
        nonlocal rate
        # Whole seconds (wrk's unit), about as long as ``limit`` requests take at the last rate seen, and
        # enough fresh requests for them and half again, so that none is sent twice.
        seconds = max(1, round(min(chunk_seconds, limit / rate)))
        count = math.ceil(rate * seconds * 1.5)
        path = workdir / "memory.requests"
        workload.write_requests(path, itertools.islice(requests, count))
        result = client.run(server.url, path, seconds, connections)
        rate = max(result.rate, 1.0)
        return result

    while sent < warmup:
        result = chunk(warmup - sent)
        sent += result.requests
        refused += result.non_2xx + result.socket_errors
    checkpoints = [Checkpoint(0, server.worker_rss())]
    done = 0
    while done < total:
        result = chunk(total - done)
        done += result.requests
        refused += result.non_2xx + result.socket_errors
        checkpoints.append(Checkpoint(done, server.worker_rss()))
    return checkpoints, refused


def summary(checkpoints: list[Checkpoint], tenants: int) -> dict[str, Any]:
    """latest.json's ``memory``: per worker, RSS after warm-up and at the end, the growth, and the series.

    ``growth_second_half_mib`` compares the end with the checkpoint nearest the middle of the run: close to 0
    when what grew was a cache that filled up.
    """
    if len(checkpoints) < 2:
        raise ValueError("a memory run needs the warm-up checkpoint and at least one after it")
    first, last = checkpoints[0], checkpoints[-1]
    middle = min(checkpoints, key=lambda c: abs(c.requests - last.requests / 2))
    workers = []
    for pid in sorted(first.rss):
        if pid not in last.rss:
            raise ValueError(f"worker {pid} was replaced during the run: its memory cannot be followed")
        workers.append(
            {
                "pid": pid,
                "rss_warm_mib": _mib(first.rss[pid]),
                "rss_final_mib": _mib(last.rss[pid]),
                "growth_mib": _mib(last.rss[pid] - first.rss[pid]),
                "growth_second_half_mib": _mib(last.rss[pid] - middle.rss.get(pid, first.rss[pid])),
            }
        )
    return {
        "tenants": tenants,
        "requests": last.requests,
        "workers": workers,
        "growth_mib_max": max(w["growth_mib"] for w in workers),
        "growth_second_half_mib_max": max(w["growth_second_half_mib"] for w in workers),
        "checkpoints": [
            {"requests": c.requests, "rss_mib": [_mib(c.rss[pid]) for pid in sorted(c.rss)]} for c in checkpoints
        ],
    }


def _mib(size: int) -> float:
    return round(size / MIB, 2)
