"""The results of a run: benchmarks/results/latest.json, a PNG chart beside it, and a table on stdout."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sqlite3
import statistics
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks import servers

# Against bare Django: a verified page load at 0.55 or better, a context call at 0.65, a webhook delivery at
# 0.45. Against the descriptor: a page load at 0.6 (aim 0.75). A tenant lookup that does not slow down as
# tenants are added: 100,000 against 10 at 0.9 or better. Against atlassian-connect-express under node cluster
# x2 (a --peers run): a page load at 1.05.
TARGETS = {
    "page_vs_bare": 0.55,
    "context_vs_bare": 0.65,
    "webhook_vs_bare": 0.45,
    "page_vs_baseline": 0.6,
    "page_vs_baseline_aim": 0.75,
    "tenants_100k_vs_10": 0.9,
    "page_vs_ace_cluster": 1.05,
}
# ratio name -> (numerator scenario, denominator scenario). A ratio is the share of the denominator's
# throughput the numerator keeps (by worker CPU: the denominator's CPU per request over the numerator's).
# The page_vs_ace_* ratios (hello page against atlassian-connect-express) come only from a run where ACE ran.
RATIOS = {
    "page_vs_bare": ("page", "bare"),
    "context_vs_bare": ("context", "bare"),
    "webhook_vs_bare": ("webhook", "bare"),
    "baseline_vs_bare": ("baseline", "bare"),
    "page_vs_baseline": ("page", "baseline"),
    "context_vs_baseline": ("context", "baseline"),
    "webhook_vs_baseline": ("webhook", "baseline"),
    "tenants_100k_vs_10": ("page_100k", "page"),
    "page_vs_ace_single": ("page", "ace_single"),
    "page_vs_ace_cluster": ("page", "ace_cluster"),
}


def ratios(throughput: dict[str, float]) -> dict[str, float]:
    """Every ratio of RATIOS whose two scenarios ran (and the denominator served anything)."""
    return {
        name: round(throughput[top] / throughput[bottom], 3)
        for name, (top, bottom) in RATIOS.items()
        if top in throughput and throughput.get(bottom)
    }


def cpu_ratios(cpu_per_request: dict[str, float]) -> dict[str, float]:
    """The ratios from the workers' CPU per request: the denominator's cost over the numerator's."""
    return {
        name: round(cpu_per_request[bottom] / cpu_per_request[top], 3)
        for name, (top, bottom) in RATIOS.items()
        if bottom in cpu_per_request and cpu_per_request.get(top)
    }


@dataclass(frozen=True)
class Round:
    rate: float
    requests: int
    non_2xx: int
    socket_errors: int
    worker_cpu_us: float  # CPU time of the gunicorn workers (ACE: every node process) per request
    tokens_repeated: bool  # the run outlasted its file of fresh tokens and sent some a second time
    p50_ms: float | None = None
    p99_ms: float | None = None


@dataclass(frozen=True)
class ScenarioResult:
    key: str
    name: str
    label: str
    unit: str
    rounds: list[Round]
    warmup: Round | None

    def as_dict(self) -> dict[str, Any]:
        runs = [*self.rounds, *([self.warmup] if self.warmup else [])]
        return {
            "key": self.key,
            "label": self.label,
            "unit": self.unit,
            "median": round(statistics.median(r.rate for r in self.rounds), 1),
            "rounds": [round(r.rate, 1) for r in self.rounds],
            "worker_cpu_us_per_request": round(statistics.median(r.worker_cpu_us for r in self.rounds), 1),
            "p50_ms": _median_or_none([r.p50_ms for r in self.rounds]),
            "p99_ms": _median_or_none([r.p99_ms for r in self.rounds]),
            "requests": sum(r.requests for r in runs),
            "non_2xx": sum(r.non_2xx for r in runs),
            "socket_errors": sum(r.socket_errors for r in runs),
            "tokens_repeated": any(r.tokens_repeated for r in self.rounds),
        }


def _median_or_none(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 3) if present else None


# latest.json's "figures": each scenario's median throughput, by scenario.
FIGURES = {
    "bare": "0_bare_rps",
    "baseline": "a_baseline_rps",
    "page": "b_page_rps",
    "context": "c_context_rps",
    "page_100k": "d100k_page_rps",
    "install": "e_installs_per_s",
    "webhook": "f_deliveries_per_s",
    "ace_single": "g_ace_single_rps",
    "ace_cluster": "h_ace_cluster_rps",
}


@dataclass(frozen=True)
class Results:
    machine: dict[str, Any]
    method: dict[str, Any]
    scenarios: list[ScenarioResult]
    memory: dict[str, Any] | None = None
    memory_refused: int = 0  # non-2xx and socket errors of the memory run

    def document(self) -> dict[str, Any]:
        # In the order of their keys (0, then a to f), whatever order they ran in.
        scenarios = {s.name: s.as_dict() for s in sorted(self.scenarios, key=lambda s: s.key)}
        median = {name: scenario["median"] for name, scenario in scenarios.items()}
        figures = {figure: median[name] for name, figure in FIGURES.items() if name in median}
        if "page" in median:
            figures["d10_page_rps"] = median["page"]  # the same scenario as b: page loads, 10-tenant store
        cpu = {name: scenario["worker_cpu_us_per_request"] for name, scenario in scenarios.items()}
        return {
            "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": self.machine,
            "method": self.method,
            "figures": figures,
            "ratios": ratios(median),
            # The same ratios from the workers' CPU per request: independent of the load generator's own cost.
            "cpu_ratios": cpu_ratios(cpu),
            "targets": TARGETS,
            "memory": self.memory,
            "non_2xx": sum(s["non_2xx"] for s in scenarios.values()) + self.memory_refused,
            "socket_errors": sum(s["socket_errors"] for s in scenarios.values()),
            "scenarios": scenarios,
        }

    def write(self, directory: Path) -> dict[str, Any]:
        directory.mkdir(parents=True, exist_ok=True)
        document = self.document()
        (directory / "latest.json").write_text(json.dumps(document, indent=2) + "\n")
        chart(document, directory / "latest.png")
        return document


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def describe_database(server_url: str) -> str:
    if not servers.is_postgres(server_url):
        return f"SQLite {sqlite3.sqlite_version} (a file per server in the run's temporary directory)"
    import psycopg

    with psycopg.connect(server_url) as connection:
        version = connection.execute("SHOW server_version").fetchone()
    return f"PostgreSQL {version[0] if version else '?'} (fresh databases, dropped after the run)"


def machine(database: str, load_generator: str, workers: int) -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gib": _memory_gib(),
        "python": platform.python_version(),
        "django": metadata.version("Django"),
        "gunicorn": f"{metadata.version('gunicorn')}, {workers} sync workers, 127.0.0.1",
        "database": database,
        "load_generator": load_generator,
    }


def table(document: dict[str, Any]) -> str:
    rows = [("", "scenario", "median", "unit", "rounds", "worker CPU/req", "non-2xx")]
    for name, scenario in document["scenarios"].items():
        rounds = scenario["rounds"]
        rows.append(
            (
                scenario["key"],
                f"{name}: {scenario['label']}",
                f"{scenario['median']:,.0f}",
                scenario["unit"],
                f"{min(rounds):,.0f}-{max(rounds):,.0f}",
                f"{scenario['worker_cpu_us_per_request']:,.0f} µs",
                str(scenario["non_2xx"] + scenario["socket_errors"]),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    lines += ["", *ratio_lines(document)]
    memory = document.get("memory")
    if memory:
        lines.append("")
        lines.append(f"memory: RSS per worker, {memory['tenants']:,} tenants in the store")
        for worker in memory["workers"]:
            lines.append(
                f"  worker {worker['pid']}: {worker['rss_warm_mib']:.1f} MiB after warm-up, "
                f"{worker['rss_final_mib']:.1f} MiB after {memory['requests']:,} requests "
                f"(growth {worker['growth_mib']:+.2f} MiB, {worker['growth_second_half_mib']:+.2f} in the second half)"
            )
    machine_info = document["machine"]
    lines.append("")
    lines.append(f"non-2xx: {document['non_2xx']}, socket errors: {document['socket_errors']}")
    lines.append(f"{machine_info['cpu_model']}, {machine_info['cores']} cores; {machine_info['database']}")
    lines.append(f"load generator: {machine_info['load_generator']}")
    if "peers" in machine_info:
        lines.append(f"peers: {machine_info['peers']}")
    return "\n".join(lines)


def ratio_lines(document: dict[str, Any]) -> list[str]:
    found, cpu, targets = document["ratios"], document["cpu_ratios"], document["targets"]
    lines = []
    for name, (top, bottom) in RATIOS.items():
        if name not in found:
            continue
        target = targets.get(name)
        verdict = "" if target is None else (" ok" if found[name] >= target else " BELOW TARGET") + f" (>= {target})"
        by_cpu = f"; by worker CPU {cpu[name]:.3f}" if name in cpu else ""
        lines.append(f"{name} ({top}/{bottom}): {found[name]:.3f}{verdict}{by_cpu}")
    return lines


def chart(document: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display: render straight to the PNG
    import matplotlib.pyplot as plt

    scenarios = document["scenarios"]
    names = list(scenarios)
    medians = [scenarios[name]["median"] for name in names]
    figure, axes = plt.subplots(figsize=(11, 5.4), dpi=110)
    palette = ["#5e6c84", "#8993a4", "#0052cc", "#2684ff", "#4c9aff", "#00875a", "#36b37e", "#6554c0"]
    bars = axes.bar(range(len(names)), medians, color=[palette[i % len(palette)] for i in range(len(names))])
    for index, name in enumerate(names):
        rounds = scenarios[name]["rounds"]
        axes.scatter([index] * len(rounds), rounds, color="black", s=10, zorder=3)
    # Inside the bars, so that the round dots near the top never cover the figure.
    axes.bar_label(bars, labels=[f"{m:,.0f}" for m in medians], label_type="center", color="white", weight="bold")
    axes.set_xticks(
        range(len(names)),
        [f"{scenarios[name]['key']}  {name}\n({scenarios[name]['unit']})" for name in names],
    )
    axes.set_ylabel("median throughput (dots: rounds)")
    ratios, machine_info = document["ratios"], document["machine"]
    shown = [
        "page_vs_bare",
        "context_vs_bare",
        "webhook_vs_bare",
        "page_vs_baseline",
        "tenants_100k_vs_10",
        "page_vs_ace_cluster",
    ]
    axes.set_title(
        "   ".join(f"{name} {ratios[name]:.2f}" for name in shown if name in ratios)
        + f"   non-2xx {document['non_2xx']}",
        fontsize=9,
    )
    figure.suptitle(
        f"{machine_info['cpu_model']}, {machine_info['cores']} cores; {machine_info['database'].split(' (')[0]}; "
        f"{document['method']['load_generator']}",
        fontsize=9,
    )
    axes.margins(y=0.15)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
