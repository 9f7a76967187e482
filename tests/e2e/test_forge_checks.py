"""The Forge cases of `python -m fake_jira check` against this app over real HTTP: they pass, and each hostile
case fails when the app stops refusing what it checks. The app runs in pytest-django's live server; Forge (the
check's ForgeJira on its loopback server) is reached over HTTP too, so no ``responses`` router is active here."""

from __future__ import annotations

import io
import re

import pytest

from fake_jira.conformance import ForgeRemote, run_conformance
from fake_jira.conformance.forge import cases
from jira_app import forge
from tests.e2e.conftest import FORGE_APP_ID

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def forge_check(descriptor_url, keys_port):
    def run():
        out = io.StringIO()
        report = run_conformance(descriptor_url, keys_port=keys_port, forge=ForgeRemote(FORGE_APP_ID), out=out)
        return report, out.getvalue()

    return run


def forge_outcomes(report):
    return [outcome for outcome in report.outcomes if "forge" in outcome.name.split()]


def test_the_app_passes_every_forge_check(forge_check, descriptor_url, keys_port):
    report, output = forge_check()

    assert report.failed == 0, output
    assert len(forge_outcomes(report)) == len(cases(None)) == 17
    assert output.splitlines()[1] == f"forge jwks: http://127.0.0.1:{keys_port}/forge/.well-known/jwks.json"
    assert "hostile forge replayed jti" in output


def test_an_app_that_trusts_any_ic_label_fails_its_case(forge_check, monkeypatch):
    monkeypatch.setattr(forge, "IC_LABEL", re.compile(r".*", re.DOTALL))

    report, output = forge_check()

    assert report.failures == ["hostile forge hostile_ic_label"], output


def test_an_app_that_accepts_replays_fails_the_replay_case(forge_check, monkeypatch):
    monkeypatch.setattr(forge, "_use_once", lambda jti, exp: None)

    report, output = forge_check()

    assert report.failures == ["hostile forge replayed jti"], output


def test_without_a_forge_app_id_the_forge_cases_are_a_skipped_group(descriptor_url, keys_port):
    out = io.StringIO()

    report = run_conformance(descriptor_url, keys_port=keys_port, out=out)

    assert not forge_outcomes(report)
    assert (
        "- skipped Forge cases: no --forge-app-id given (enable: --forge-app-id ARI, the app's "
        "ATLASSIAN_FORGE_APP_ID, with ATLASSIAN_FORGE_JWKS_URL set to the check's JWKS)"
    ) in out.getvalue().splitlines()
