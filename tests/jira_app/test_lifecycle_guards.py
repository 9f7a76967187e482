"""The lifecycle guards, each on its own: the body must name the token's site, the callback its event, the
baseUrl an http(s) site; the install race's fallback; ``installed_at`` on a reinstall."""

from __future__ import annotations

import datetime
import json

import pytest
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext
from freezegun import freeze_time

from jira_app import lifecycle, signals
from jira_app.exceptions import BadLifecyclePayload
from jira_app.models import AtlassianHost, LifecycleEvent
from tests.signing import APP_KEY, Site, host_token

pytestmark = pytest.mark.django_db


def refusal(response, status: int) -> str:
    assert response.status_code == status, response.content
    return response.json()["error"]


def rows() -> list[dict]:
    return list(AtlassianHost.objects.order_by("client_key").values())


# --- the body must name the site the token was issued for ----------------------------------------------


@pytest.mark.parametrize("event", ["enabled", "disabled"])
def test_an_enable_or_disable_naming_another_site_is_refused(client, jira, installed_site, event):
    other = Site("other")
    assert jira.installed(other).status_code == 204
    before = rows()
    token = host_token(installed_site.client_key, installed_site.secret, "POST", f"/jira/{event}")

    response = client.post(
        f"/jira/{event}",
        other.lifecycle_body(event),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"JWT {token}",
    )

    assert refusal(response, 401) == "client_key_mismatch"
    assert rows() == before


def test_an_uninstall_naming_another_site_is_refused(client, jira, installed_site, install_signer):
    other = Site("other")
    assert jira.installed(other).status_code == 204
    before = rows()
    token = install_signer.token(installed_site.client_key, "/jira/uninstalled")

    response = client.post(
        "/jira/uninstalled",
        other.lifecycle_body("uninstalled"),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"JWT {token}",
    )

    assert refusal(response, 401) == "client_key_mismatch"
    assert rows() == before


# --- the body must be for this callback and this app ---------------------------------------------------


@pytest.mark.parametrize("event_type", ["uninstalled", "enabled", "Installed"])
def test_an_install_body_of_another_event_is_refused(jira, site, event_type):
    assert refusal(jira.installed(site, eventType=event_type), 400) == "bad_payload"

    assert not AtlassianHost.objects.exists()


def test_an_enable_body_of_another_event_is_refused(client, installed_site):
    token = host_token(installed_site.client_key, installed_site.secret, "POST", "/jira/enabled")
    body = installed_site.lifecycle_body("disabled")

    response = client.post("/jira/enabled", body, content_type="application/json", HTTP_AUTHORIZATION=f"JWT {token}")

    assert refusal(response, 400) == "bad_payload"
    assert not LifecycleEvent.objects.filter(kind=LifecycleEvent.Kind.ENABLED).exists()


def test_a_body_without_an_event_type_is_taken_for_the_callback(jira, site):
    assert jira.installed(site, eventType=None).status_code == 204

    body = site.lifecycle_body("enabled", eventType=None)
    assert lifecycle.LifecyclePayload.parse(body, expected_event="enabled").event_type == "enabled"


def test_a_body_for_another_app_is_refused(jira, site):
    assert refusal(jira.installed(site, key=APP_KEY + "-other"), 400) == "bad_payload"


@pytest.mark.parametrize(
    "base_url",
    [
        "https://acme.atlassian.net?x=1",
        "https://acme.atlassian.net/?x=1",
        "https://acme.atlassian.net#top",
        "ftp://acme.atlassian.net",
        "acme.atlassian.net",
        "https://",
        "javascript:alert(1)",
    ],
)
@pytest.mark.parametrize("field", ["baseUrl", "displayUrl"])
def test_a_url_that_is_not_a_plain_http_site_is_refused(jira, site, field, base_url):
    assert refusal(jira.installed(site, **{field: base_url}), 400) == "bad_payload"

    assert not AtlassianHost.objects.exists()


@pytest.mark.parametrize("base_url", ["http://localhost:2990/jira", "https://acme.atlassian.net/wikiX/"])
def test_a_plain_http_or_https_url_is_accepted(jira, site, base_url):
    assert jira.installed(site, baseUrl=base_url, displayUrl=base_url).status_code == 204

    host = AtlassianHost.objects.get()
    assert host.base_url == host.display_url == base_url.rstrip("/")


def test_a_field_that_is_not_a_string_is_refused():
    body = json.dumps({"clientKey": "c", "baseUrl": "https://acme.atlassian.net", "description": 5}).encode()

    with pytest.raises(BadLifecyclePayload) as excinfo:
        lifecycle.LifecyclePayload.parse(body, expected_event="uninstalled")
    assert excinfo.value.reason == "bad_payload"


def test_only_the_installed_callback_keeps_a_shared_secret():
    body = json.dumps({"clientKey": "c", "baseUrl": "https://acme.atlassian.net", "sharedSecret": "s"}).encode()

    assert lifecycle.LifecyclePayload.parse(body, expected_event="uninstalled").shared_secret is None
    assert lifecycle.LifecyclePayload.parse(body, expected_event="installed").shared_secret.reveal() == "s"


def test_a_first_install_starts_the_installation_and_the_secret_at_one_instant(jira, site):
    assert jira.installed(site).status_code == 204

    host = AtlassianHost.objects.get()
    assert host.installed_at == host.secret_rotated_at


# --- installed_at --------------------------------------------------------------------------------------


def test_a_reinstall_after_an_uninstall_starts_a_new_installation(jira, site):
    first = datetime.datetime(2026, 11, 1, 9, 0, tzinfo=datetime.UTC)
    second = datetime.datetime(2026, 11, 20, 9, 0, tzinfo=datetime.UTC)
    with freeze_time(first):
        assert jira.installed(site).status_code == 204
        assert jira.uninstalled(site).status_code == 204
    with freeze_time(second):
        assert jira.installed(site).status_code == 204

    host = AtlassianHost.objects.get()
    assert host.installed_at == second
    assert host.uninstalled_at is None


def test_a_reinstall_of_an_installed_site_keeps_its_installation_date(jira, site):
    first = datetime.datetime(2026, 11, 1, 9, 0, tzinfo=datetime.UTC)
    with freeze_time(first):
        assert jira.installed(site).status_code == 204
    with freeze_time(first + datetime.timedelta(days=3)):
        site.rotate()
        assert jira.installed(site).status_code == 204

    host = AtlassianHost.objects.get()
    assert host.installed_at == first
    assert host.secret_rotated_at == first + datetime.timedelta(days=3)


# --- the install race, on any database -----------------------------------------------------------------
# Two first installs of one site may both find no row: the loser's insert hits the unique clientKey. The
# real race needs PostgreSQL (test_lifecycle_concurrency.py); here the first lookup is made to miss a row
# that is already there, which is what the loser sees.


@pytest.fixture
def lookups_miss_once(monkeypatch):
    real = lifecycle._locked_host
    calls = []

    def locked_host(client_key):
        calls.append(client_key)
        return None if len(calls) == 1 else real(client_key)

    monkeypatch.setattr(lifecycle, "_locked_host", locked_host)
    return calls


def test_the_loser_of_an_install_race_rotates_the_winners_row(jira, installed_site, lookups_miss_once):
    received = []

    def on_installed(sender, host, rotated, **kwargs):
        received.append((host.client_key, rotated))

    signals.host_installed.connect(on_installed)
    try:
        installed_site.rotate()
        assert jira.installed(installed_site).status_code == 204
    finally:
        signals.host_installed.disconnect(on_installed)

    assert AtlassianHost.objects.get().shared_secret.reveal() == installed_site.secret
    assert received == [(installed_site.client_key, True)]
    assert len(lookups_miss_once) == 2
    assert list(LifecycleEvent.objects.order_by("pk").values_list("kind", flat=True)) == [
        LifecycleEvent.Kind.INSTALLED,
        LifecycleEvent.Kind.SECRET_ROTATED,
    ]


def test_an_insert_conflict_without_a_row_to_lock_is_not_swallowed(jira, installed_site, monkeypatch):
    before = rows()
    monkeypatch.setattr(lifecycle, "_locked_host", lambda client_key: None)

    with pytest.raises(IntegrityError):
        jira.installed(installed_site)

    assert rows() == before


# --- the lifecycle signals -----------------------------------------------------------------------------


@pytest.fixture
def sent():
    calls = []
    connected = [signals.host_installed, signals.host_uninstalled, signals.host_enabled, signals.host_disabled]
    names = {signal: name for name, signal in vars(signals).items() if signal in connected}

    def receiver(sender, signal, host, **kwargs):
        calls.append((names[signal], sender, host.client_key, kwargs))

    for signal in connected:
        signal.connect(receiver)
    yield calls
    for signal in connected:
        signal.disconnect(receiver)


def test_each_lifecycle_change_sends_its_signal_once(jira, site, sent):
    assert jira.installed(site).status_code == 204
    assert jira.toggled(site, "disabled").status_code == 204
    assert jira.toggled(site, "enabled").status_code == 204
    assert jira.uninstalled(site).status_code == 204

    key = site.client_key
    assert sent == [
        ("host_installed", AtlassianHost, key, {"rotated": False}),
        ("host_disabled", AtlassianHost, key, {}),
        ("host_enabled", AtlassianHost, key, {}),
        ("host_uninstalled", AtlassianHost, key, {}),
    ]


# --- what each event records ---------------------------------------------------------------------------


def test_each_event_records_the_base_url_and_the_user_behind_it(client, jira, site):
    assert jira.installed(site).status_code == 204
    token = host_token(site.client_key, site.secret, "POST", "/jira/disabled", sub=None)
    body = site.lifecycle_body("disabled", baseUrl="https://renamed.atlassian.net")
    response = client.post("/jira/disabled", body, content_type="application/json", HTTP_AUTHORIZATION=f"JWT {token}")
    assert response.status_code == 204

    assert list(LifecycleEvent.objects.order_by("pk").values_list("kind", "base_url", "account_id")) == [
        (LifecycleEvent.Kind.INSTALLED, site.base_url, "557058:admin"),
        (LifecycleEvent.Kind.DISABLED, "https://renamed.atlassian.net", ""),
    ]


def test_a_reinstall_updates_the_tenant_in_place(jira, installed_site):
    installed_site.rotate()
    with CaptureQueriesContext(connection) as queries:
        assert jira.installed(installed_site).status_code == 204

    table = AtlassianHost._meta.db_table
    assert not [query["sql"] for query in queries if query["sql"].startswith(f'INSERT INTO "{table}"')]
    assert AtlassianHost.objects.get().shared_secret.reveal() == installed_site.secret
