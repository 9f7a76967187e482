"""The Forge checks against this app over real HTTP: they pass, and each hostile case fails when the app stops
refusing what it checks. The app runs in pytest-django's live server; Forge (a ForgeJira on its own loopback
server) is reached over HTTP too, so no ``responses`` router is active here."""

from __future__ import annotations

import io
import re

import pytest

from fake_jira.demo.command import free_port
from fake_jira.forge.checks import build_cases, run_forge_checks
from jira_app import forge

pytestmark = pytest.mark.django_db(transaction=True)

APP_ID = "ari:cloud:ecosystem::app/3f0c2b9e-5d1a-4c6b-9a27-1e8d4f7a6b05"


@pytest.fixture
def forge_check(live_server, settings):
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    settings.ATLASSIAN_CONNECT_BASE_URL = live_server.url
    settings.ATLASSIAN_CONNECT_INSTALL_KEYS_URL = f"{root}/install-keys"
    settings.ATLASSIAN_FORGE_JWKS_URL = f"{root}/forge/.well-known/jwks.json"
    settings.ATLASSIAN_FORGE_APP_ID = APP_ID
    forge.forget_keys()

    def run():
        out = io.StringIO()
        report = run_forge_checks(f"{live_server.url}/jira/atlassian-connect.json", app_id=APP_ID, port=port, out=out)
        return report, out.getvalue()

    yield run
    forge.forget_keys()


def test_the_app_passes_every_forge_check(forge_check):
    report, output = forge_check()

    assert report.failed == 0, output
    assert report.passed == len(build_cases())
    assert "hostile forge replayed jti" in output


def test_an_app_that_trusts_any_ic_label_fails_its_case(forge_check, monkeypatch):
    monkeypatch.setattr(forge, "IC_LABEL", re.compile(r".*", re.DOTALL))

    report, output = forge_check()

    assert report.failures == ["hostile forge hostile_ic_label"], output


def test_an_app_that_accepts_replays_fails_the_replay_case(forge_check, monkeypatch):
    monkeypatch.setattr(forge, "_use_once", lambda jti, exp: None)

    report, output = forge_check()

    assert report.failures == ["hostile forge replayed jti"], output
