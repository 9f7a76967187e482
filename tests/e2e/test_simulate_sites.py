"""benchmarks/simulate_sites.py keeps working: the figure quoted in README.md comes from it."""

from __future__ import annotations

from tests.mysite.processes import run_python


def test_simulating_a_few_sites_in_process_passes_and_reports_its_timings():
    result = run_python("benchmarks/simulate_sites.py", "--sites", "3", env={})

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("3 sites in process")
    assert [line.split()[0] for line in lines[1:5]] == ["install", "page", "webhook", "total"]
