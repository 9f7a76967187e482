"""The app as a Forge remote, end to end: fake_jira plays Forge (its JWKS, installations, invocations, lifecycle
triggers, API gateway) and reaches the app in process and over HTTP (the ``transport`` fixture's two params)."""

from __future__ import annotations

import io
import logging

import pytest
from django.test import Client

from fake_jira.demo import Story
from fake_jira.demo.output import WIDTH
from fake_jira.forge import ForgeApp, ForgeJira
from fake_jira.forge.platform import INSTALLED, UPGRADED
from fake_jira.forge.tokens import FitForgery
from fake_jira.models import Direction
from fake_jira.transports import ResponsesRouter
from jira_app import forge
from jira_app.models import AtlassianHost, ForgeInstallation, ForgeLifecycleEvent, UsedInvocationToken
from tests.e2e.conftest import FORGE_APP_ID as APP_ID
from tests.e2e.conftest import installed_site
from tests.e2e.test_demo import FORGE_STEPS, STEPS, marked

pytestmark = pytest.mark.django_db(transaction=True)

LIFECYCLE = "/jira/forge/lifecycle"
PROJECTS = "/jira/forge/api/projects"


@pytest.fixture
def fake_jira():
    """This module's FakeJira also plays Forge (overrides fake_jira's fixture, so ``app`` and ``transport`` use it)."""
    fake = ForgeJira()
    with ResponsesRouter(fake):
        yield fake
    fake.reset()


@pytest.fixture(autouse=True)
def forge_settings(settings, fake_jira):
    settings.ATLASSIAN_FORGE_APP_ID = APP_ID
    settings.ATLASSIAN_FORGE_JWKS_URL = fake_jira.forge.jwks_url
    forge.forget_keys()
    yield settings
    forge.forget_keys()


@pytest.fixture
def forge_app(app) -> ForgeApp:
    return ForgeApp(APP_ID, app, lifecycle_path=LIFECYCLE)


def jwks_fetches(fake: ForgeJira) -> int:
    return sum(1 for e in fake.events if e.direction is Direction.FROM_APP and e.action == "forge jwks")


def test_install_links_the_connect_tenant_and_records_the_trigger(fake_jira, forge_app):
    site = fake_jira.add_site("acme")
    installation = fake_jira.forge.install(site, forge_app)

    assert [r.status for r in installation.sent] == [204, 200]
    stored = ForgeInstallation.objects.get(installation_id=installation.installation_id)
    assert stored.host == AtlassianHost.objects.get(client_key=site.client_key)
    assert stored.cloud_id == installation.cloud_id
    assert stored.api_base_url == installation.api_base_url
    assert stored.installed_at is not None
    assert list(stored.events.values_list("kind", "account_id")) == [(INSTALLED, site.admin.account_id)]


def test_retried_triggers_are_recorded_once(fake_jira, forge_app):
    site = fake_jira.add_site("acme")
    installation = fake_jira.forge.install(site, forge_app)

    sent = fake_jira.forge.fire(installation, INSTALLED, deliveries=5)

    assert [r.status for r in sent] == [200] * 5
    event = ForgeLifecycleEvent.objects.get(installation__installation_id=installation.installation_id)
    assert event.deliveries == 6


def test_an_upgrade_is_recorded_with_its_version(fake_jira, forge_app):
    site = fake_jira.add_site("acme")
    installation = fake_jira.forge.install(site, forge_app)

    sent = fake_jira.forge.upgrade(installation, "2.0.0")

    assert [r.status for r in sent] == [200]
    stored = ForgeInstallation.objects.get(installation_id=installation.installation_id)
    assert stored.app_version == "2.0.0"
    assert stored.upgraded_at is not None
    assert sorted(stored.events.values_list("kind", "app_version")) == [(INSTALLED, "1.0.0"), (UPGRADED, "2.0.0")]


def test_a_failing_trigger_is_retried_four_times(fake_jira, forge_app, settings):
    site = fake_jira.add_site("acme")
    installation = fake_jira.forge.install(site, forge_app)
    settings.ATLASSIAN_FORGE_APP_ID = "ari:cloud:ecosystem::app/00000000-0000-4000-8000-000000000000"

    sent = fake_jira.forge.upgrade(installation, "2.0.0")

    assert [r.status for r in sent] == [401] * 5
    assert not ForgeLifecycleEvent.objects.filter(kind=UPGRADED).exists()


def test_the_page_reads_the_site_with_the_system_token(fake_jira, forge_app):
    site = fake_jira.add_site("acme")
    site.add_project("OPS", "Operations")
    site.add_project("WEB", "Website")
    installation = fake_jira.forge.install(site, forge_app)
    user = site.add_user("Ada")

    response = fake_jira.forge.invoke(installation, "GET", PROJECTS, user=user)

    assert response.status == 200, response.text
    data = response.json()
    assert data["installationId"] == installation.installation_id
    assert data["cloudId"] == installation.cloud_id
    assert data["accountId"] == user.account_id
    assert data["clientKey"] == site.client_key
    assert [p["key"] for p in data["projects"]] == ["OPS", "WEB"]
    assert [(e.action, e.status) for e in site.api_calls][-1] == ("Forge REST", 200)


def test_a_site_upgraded_without_any_callback_still_resolves(fake_jira, app, forge_app):
    site = installed_site(fake_jira, app, "acme", "OPS")
    installation = fake_jira.forge.upgrade_from_connect(site, forge_app)

    response = fake_jira.forge.invoke(installation, "GET", PROJECTS, user=site.admin)

    assert response.status == 200, response.text
    assert response.json()["clientKey"] == site.client_key
    stored = ForgeInstallation.objects.get(installation_id=installation.installation_id)
    assert stored.host.client_key == site.client_key
    assert not stored.events.exists()
    assert site.load_page(app, "hello").status == 200


@pytest.mark.parametrize("forgery", list(FitForgery), ids=lambda f: f.name.lower())
def test_forged_tokens_are_refused(fake_jira, forge_app, forgery, caplog):
    site = fake_jira.add_site("acme")
    installation = fake_jira.forge.install(site, forge_app)
    before = list(ForgeInstallation.objects.values())
    token = fake_jira.forge.mint(installation, user=site.admin, forgery=forgery)

    with caplog.at_level(logging.WARNING, logger="jira_app.security"):
        response = fake_jira.forge.invoke(installation, "GET", PROJECTS, user=site.admin, token=token)

    assert response.status == 401, response.text
    assert "Location" not in response.headers
    assert list(ForgeInstallation.objects.values()) == before
    assert any("refused GET" in record.getMessage() for record in caplog.records)
    assert token not in caplog.text
    assert token.split(".")[1] not in caplog.text


def test_a_replayed_token_is_refused(fake_jira, forge_app):
    site = fake_jira.add_site("acme")
    installation = fake_jira.forge.install(site, forge_app)
    token = fake_jira.forge.mint(installation, user=site.admin)

    first = fake_jira.forge.invoke(installation, "GET", PROJECTS, user=site.admin, token=token)
    again = fake_jira.forge.invoke(installation, "GET", PROJECTS, user=site.admin, token=token)

    assert (first.status, again.status) == (200, 401)
    assert again.json()["error"] == "replayed_token"


def test_rotated_keys_are_fetched_on_an_unknown_kid(fake_jira, forge_app, settings):
    settings.ATLASSIAN_FORGE_JWKS_MIN_REFRESH_SECONDS = 0
    site = fake_jira.add_site("acme")
    installation = fake_jira.forge.install(site, forge_app)
    fetched = jwks_fetches(fake_jira)

    fake_jira.forge.keys.rotate()  # the new key was already published: no fetch needed
    assert fake_jira.forge.invoke(installation, "GET", PROJECTS, user=site.admin).status == 200
    assert jwks_fetches(fake_jira) == fetched
    fake_jira.forge.keys.rotate()  # this one the app has never seen
    assert fake_jira.forge.invoke(installation, "GET", PROJECTS, user=site.admin).status == 200
    assert jwks_fetches(fake_jira) == fetched + 1


def test_unknown_kids_cannot_make_the_app_hammer_the_jwks(fake_jira, forge_app):
    site = fake_jira.add_site("acme")
    installation = fake_jira.forge.install(site, forge_app)
    fetched = jwks_fetches(fake_jira)

    for _ in range(5):
        token = fake_jira.forge.mint(installation, forgery=FitForgery.UNKNOWN_KID)
        assert fake_jira.forge.invoke(installation, "GET", PROJECTS, token=token).status == 401

    assert jwks_fetches(fake_jira) == fetched  # within ATLASSIAN_FORGE_JWKS_MIN_REFRESH_SECONDS of the last


def test_forge_tokens_are_neither_logged_nor_stored(fake_jira, forge_app, caplog):
    site = fake_jira.add_site("acme")
    installation = fake_jira.forge.install(site, forge_app)
    with caplog.at_level(logging.DEBUG):
        fake_jira.forge.invoke(installation, "GET", PROJECTS, user=site.admin)
    issued = list(fake_jira.forge._system_tokens)
    stored = repr(list(ForgeInstallation.objects.values())) + repr(list(UsedInvocationToken.objects.values()))
    for token in issued:
        assert token not in caplog.text
        assert token not in stored


def test_routes_keep_their_own_tokens(fake_jira, app, forge_app):
    """Deny by default: a FIT opens no Connect route, and a Connect token opens no Forge route."""
    site = installed_site(fake_jira, app, "acme")
    installation = fake_jira.forge.upgrade_from_connect(site, forge_app)
    fit = fake_jira.forge.mint(installation, user=site.admin)

    page = app.transport.send("GET", "/jira/hello.html", headers={"Authorization": f"Bearer {fit}"})
    connect_token = site.context_token(app)
    projects = app.transport.send("GET", PROJECTS, headers={"Authorization": f"JWT {connect_token}"})
    projects_bearer = app.transport.send("GET", PROJECTS, headers={"Authorization": f"Bearer {connect_token}"})

    assert (page.status, projects.status, projects_bearer.status) == (401, 401, 401)


def test_without_an_app_id_every_forge_call_is_refused(fake_jira, forge_app, settings):
    site = fake_jira.add_site("acme")
    installation = fake_jira.forge.install(site, forge_app)
    settings.ATLASSIAN_FORGE_APP_ID = ""

    response = fake_jira.forge.invoke(installation, "GET", PROJECTS, user=site.admin)

    assert response.status == 401
    assert response.json()["error"] == "forge_not_configured"


def test_the_trigger_body_must_name_the_tokens_installation(fake_jira, forge_app):
    site = fake_jira.add_site("acme")
    mine = fake_jira.forge.install(site, forge_app)
    other = fake_jira.forge.install(fake_jira.add_site("other"), forge_app)
    body = {"eventType": UPGRADED, "id": other.installation_id, "app": {"id": APP_ID, "version": "9"}}

    response = fake_jira.forge.invoke(mine, "POST", LIFECYCLE, body=body)

    assert response.status == 400
    assert not ForgeLifecycleEvent.objects.filter(kind=UPGRADED).exists()


def test_an_in_process_client_gets_401_not_a_redirect_without_a_token(forge_app):
    response = Client().get(PROJECTS)
    assert response.status_code == 401


class ForgeTokensSeen:
    """The app's transport, keeping every Forge token sent: the FITs and the x-forge-oauth-* tokens."""

    def __init__(self, transport):
        self.transport = transport
        self.tokens = []

    def send(self, method, target, *, headers, body=b""):
        scheme, _, token = headers.get("Authorization", "").partition(" ")
        self.tokens += [token] if scheme == "Bearer" else []
        self.tokens += [value for name, value in headers.items() if name.startswith("x-forge-oauth-")]
        return self.transport.send(method, target, headers=headers, body=body)


def test_the_demo_plays_the_forge_chapter_and_shows_no_forge_token(fake_jira, transport):
    out = io.StringIO()
    seen = ForgeTokensSeen(transport)

    passed = Story(fake_jira, seen, out=out, explain=True, forge_app_id=APP_ID).play()

    text, lines = out.getvalue(), out.getvalue().splitlines()
    assert passed, text
    assert (len(marked(lines, "✓")), marked(lines, "✗")) == (STEPS + FORGE_STEPS, [])
    steps = " ".join(text.split())
    assert "forged: aud is another app's ARI> → 401: refused, as it must be" in steps
    assert "the same jti again> → 401: refused, as it must be: a FIT is good for one call" in steps
    assert "moved to Forge without a callback, linked by its site: umbrella's projects (BIO)" in steps
    assert "signed RS256 by Forge; the app fetches Forge's keys from https://forge.fake-jira.test/" in steps
    assert [line for line in lines if len(line) > WIDTH] == []
    assert len(seen.tokens) > 2 * FORGE_STEPS
    assert not [token for token in seen.tokens if token in text]


def test_a_connect_install_naming_a_malformed_installation_is_refused(fake_jira, app):
    site = fake_jira.add_site("acme")
    site.forge_installation_ids[app.key] = "ari:cloud:ecosystem::installation/../../x"

    response = site.install(app)

    assert response.status == 400
    assert not AtlassianHost.objects.exists()
    assert not ForgeInstallation.objects.exists()


def test_a_reinstall_keeps_the_link(fake_jira, forge_app):
    site = fake_jira.add_site("acme")
    installation = fake_jira.forge.install(site, forge_app)

    assert site.reinstall(forge_app.connect).status == 204

    stored = ForgeInstallation.objects.get(installation_id=installation.installation_id)
    assert stored.host.client_key == site.client_key
    assert ForgeInstallation.objects.count() == 1
