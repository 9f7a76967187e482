"""Mutation testing of jira_app's security-critical modules: ``nox -s mutation [-- module ...]``.

mutmut (configured in pyproject.toml's ``[tool.mutmut]``, whose ``only_mutate`` lists the modules) changes
one small thing at a time in the code, such as a ``>`` into ``>=``, and runs the tests that reach it. A change
no test notices (a surviving mutant) is a guard no test protects. This script runs mutmut from a clean
``mutants/`` folder, then prints one line per module and the survivors as diffs, and fails when a module
kills fewer than ``THRESHOLD`` percent of its mutants.

A mutant that cannot change behaviour (an equivalent mutant) is listed, with the reason, in
``equivalents.toml`` next to this file and left out of the score. An entry names the mutant and quotes the
line the mutant changes, so that an entry no longer matching its mutant (mutmut numbers mutants in order)
fails the run instead of excusing another mutant. ``--report`` prints the last run's results again.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mutmut.stats import status_by_exit_code

ROOT = Path(__file__).resolve().parents[2]
MUTANTS = ROOT / "mutants"
EQUIVALENTS = Path(__file__).with_name("equivalents.toml")
THRESHOLD = 90.0
KILLED = frozenset({"killed", "timeout", "caught by type check", "segfault"})
SURVIVED = frozenset({"survived", "no tests", "suspicious"})


@dataclass(frozen=True)
class Module:
    """One module under mutation: ``jira_app/qsh.py`` is ``qsh``, its mutants ``jira_app.qsh.*``."""

    path: str

    @property
    def name(self) -> str:
        return Path(self.path).stem

    @property
    def mutant_pattern(self) -> str:
        return self.path.removesuffix(".py").replace("/", ".") + ".*"

    @property
    def meta_path(self) -> Path:
        return MUTANTS / (self.path + ".meta")


@dataclass(frozen=True)
class Equivalent:
    mutant: str
    mutated: str
    reason: str


@dataclass
class Result:
    module: Module
    killed: list[str] = field(default_factory=list)
    survived: list[str] = field(default_factory=list)
    equivalent: list[str] = field(default_factory=list)
    not_run: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        judged = len(self.killed) + len(self.survived)
        return 100.0 * len(self.killed) / judged if judged else 100.0

    def line(self) -> str:
        line = (
            f"{self.module.name}: {len(self.killed)} killed, {len(self.survived)} survived, "
            f"{len(self.equivalent)} equivalent, score {self.score:.1f} %"
        )
        return line + (f" ({len(self.not_run)} not run)" if self.not_run else "")


def configured_modules() -> list[Module]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mutmut"]
    return [Module(path) for path in config["only_mutate"]]


def load_equivalents() -> dict[str, Equivalent]:
    entries = tomllib.loads(EQUIVALENTS.read_text(encoding="utf-8")).get("equivalent", [])
    equivalents = {}
    for entry in entries:
        equivalent = Equivalent(mutant=entry["mutant"], mutated=entry["mutated"], reason=entry["reason"].strip())
        if not equivalent.reason:
            raise SystemExit(f"{EQUIVALENTS.name}: {equivalent.mutant} has no reason")
        equivalents[equivalent.mutant] = equivalent
    return equivalents


def mutmut(*args: str, capture: bool = False) -> subprocess.CompletedProcess[str]:
    # The console script, not `python -m mutmut`: mutmut re-executes its __main__ module otherwise.
    command = [str(Path(sys.executable).with_name("mutmut")), *args]
    return subprocess.run(command, cwd=ROOT, check=True, text=True, capture_output=capture)  # noqa: S603


def diff(mutant: str) -> str:
    return mutmut("show", mutant, capture=True).stdout.rstrip()


def added_lines(mutant_diff: str) -> list[str]:
    return [line[1:].strip() for line in mutant_diff.splitlines() if line.startswith("+") and not line.startswith("++")]


def collect(module: Module, equivalents: dict[str, Equivalent]) -> Result:
    result = Result(module)
    if not module.meta_path.exists():
        raise SystemExit(f"no mutation results for {module.name} in {MUTANTS}: run without --report first")
    exit_codes: dict[str, int | None] = json.loads(module.meta_path.read_text(encoding="utf-8"))["exit_code_by_key"]
    for mutant, exit_code in sorted(exit_codes.items()):
        status = status_by_exit_code[exit_code]
        if status in SURVIVED and mutant in equivalents:
            result.equivalent.append(mutant)
        elif status in KILLED:
            result.killed.append(mutant)
        elif status in SURVIVED:
            result.survived.append(mutant)
        else:
            result.not_run.append(mutant)
    return result


def check_equivalents(results: Sequence[Result], equivalents: dict[str, Equivalent]) -> list[str]:
    """Problems with the equivalents of the modules run: entries for no mutant, killed, or for another line."""
    problems = []
    for result in results:
        prefix = result.module.mutant_pattern.removesuffix("*")
        known = set(result.killed + result.survived + result.equivalent + result.not_run)
        for name, entry in equivalents.items():
            if not name.startswith(prefix):
                continue
            if name not in known:
                problems.append(f"{name} is listed as equivalent but is no mutant of {result.module.path}")
            elif name in result.killed:
                problems.append(f"{name} is listed as equivalent but the tests kill it: remove the entry")
            elif name in result.equivalent and entry.mutated not in added_lines(diff(name)):
                problems.append(f"{name} no longer changes the line {entry.mutated!r}: review the entry")
    return problems


def parse_arguments(argv: Sequence[str], modules: Sequence[Module]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="nox -s mutation --", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "modules", nargs="*", metavar="module", help="limit the run: " + ", ".join(m.name for m in modules)
    )
    parser.add_argument("--report", action="store_true", help="print the results of the last run without running")
    arguments = parser.parse_args(argv)
    unknown = set(arguments.modules) - {module.name for module in modules}
    if unknown:
        parser.error(f"not under mutation: {', '.join(sorted(unknown))} (see [tool.mutmut] only_mutate)")
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    modules = configured_modules()
    arguments = parse_arguments(sys.argv[1:] if argv is None else argv, modules)
    selected = [module for module in modules if not arguments.modules or module.name in arguments.modules]
    if not arguments.report:
        # A fresh copy every run: mutmut keeps earlier verdicts and unmutated copies of changed files otherwise.
        shutil.rmtree(MUTANTS, ignore_errors=True)
        mutmut("run", *(module.mutant_pattern for module in selected))
    equivalents = load_equivalents()
    results = [collect(module, equivalents) for module in selected]
    problems = check_equivalents(results, equivalents)

    print()
    for result in results:
        print(result.line())
    for result in results:
        for mutant in result.survived:
            print(f"\n{diff(mutant)}")
    failing = [result.module.name for result in results if result.score < THRESHOLD or result.not_run]
    for problem in problems:
        print(f"\n{EQUIVALENTS.name}: {problem}")
    if failing:
        print(f"\nunder {THRESHOLD:.0f} % or incomplete: {', '.join(failing)}")
    return 1 if failing or problems else 0


if __name__ == "__main__":
    sys.exit(main())
