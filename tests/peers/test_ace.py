"""`fake_jira check` against a minimal app on atlassian-connect-express 11.5.3: the verdicts on a real
framework. ACE's real deviations from the protocol are failures; every request it refuses, whatever its 4xx,
is not (a warning at most); kid shapes are hardening notes.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

from fake_jira.conformance import Report, run_conformance
from fake_jira.conformance.core import Verdict
from fake_jira.server import free_port
from tests.peers.conftest import ACE_DIR_VARIABLE

# The real deviations of ACE 11.5.3, each with the cases that show it.
ACE_DEVIATIONS = {
    "accepts tokens without exp": ["page no exp", "webhook no exp", "hostile install no exp"],
    "its context route (checkValidToken) ignores qsh": [
        "context endpoint token bound to another path",
        "context endpoint token bound to another query",
        "context endpoint token bound to another method",
        "context endpoint context token without qsh",
    ],
    "answers a garbage install token with 500": ["hostile install garbage token", "hostile install two-segment token"],
    "stores an install that carries no sharedSecret": ["hostile install body no sharedSecret"],
}
STARTUP_SECONDS = 30


@pytest.fixture(scope="module")
def ace_check() -> tuple[Report, list[str]]:
    """The ACE app on a free port, fetching keys from the check's own service, and the check's report on it."""
    app_dir = Path(os.environ[ACE_DIR_VARIABLE])
    port, keys_port = free_port(), free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "NODE_ENV": "development",
        "PORT": str(port),
        "AC_LOCAL_BASE_URL": base_url,
        "CONNECT_KEYS_CDN_URL": f"http://127.0.0.1:{keys_port}/install-keys",
    }
    node = shutil.which("node")
    assert node, "nox -s check_peers checks for Node before it runs these tests"
    log_path = app_dir / "app.log"
    with log_path.open("wb") as log:
        app = subprocess.Popen([node, "app.js"], cwd=app_dir, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                requests.get(f"{base_url}/atlassian-connect.json", timeout=2).raise_for_status()
                break
            except requests.RequestException:
                if app.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the ACE app did not start:\n{log_path.read_text()[-2000:]}")
                time.sleep(0.2)
        out = io.StringIO()
        report = run_conformance(
            f"{base_url}/atlassian-connect.json", keys_port=keys_port, context_path="/api/whoami", out=out
        )
        yield report, out.getvalue().splitlines()
    finally:
        app.terminate()
        app.wait(timeout=10)


def test_the_real_ace_deviations_are_failures_and_nothing_else(ace_check):
    report, lines = ace_check

    expected = {name for names in ACE_DEVIATIONS.values() for name in names}
    assert set(report.failures) == expected, "\n".join(line for line in lines if line.startswith("✗"))
    assert lines[-1] == f"{report.passed} passed, {len(expected)} failed"


def test_every_request_ace_refuses_whatever_its_4xx_is_not_a_failure(ace_check):
    report, _ = ace_check

    refused = [outcome for outcome in report.outcomes if outcome.result.got[:1] == "4"]
    # ACE refuses many forgeries with 400 rather than 401: warnings, which --strict would count.
    warned = {outcome.name for outcome in refused if outcome.verdict is Verdict.WARN}
    assert {"page tampered signature", "webhook other site's secret", "hostile install tampered signature"} <= warned
    assert [outcome.name for outcome in refused if outcome.verdict is Verdict.FAIL] == []


def test_kid_shapes_are_hardening_notes(ace_check):
    report, lines = ace_check

    assert {"hostile install kid a URL on another host", "hostile install kid '?' after the real kid"} <= set(
        report.hardening
    )
    assert lines[-2] == f"{len(report.warnings)} warnings, {len(report.hardening)} hardening notes"


def test_the_check_leaves_no_tenant_behind(ace_check):
    _, lines = ace_check

    assert lines[-3].startswith("clean-up: uninstalled the app from the ")
    assert "did not answer" not in lines[-3]
