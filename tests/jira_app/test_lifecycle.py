"""Install, reinstall (secret rotation), uninstall, enable and disable, as Jira Cloud sends them."""

from __future__ import annotations

import logging

import pytest

from jira_app.crypto import Secret
from jira_app.models import AtlassianHost, LifecycleEvent
from tests.signing import Site, context_token

pytestmark = pytest.mark.django_db


def kinds(site: Site) -> list[str]:
    host = AtlassianHost.objects.get(client_key=site.client_key)
    return list(host.lifecycle_events.order_by("id").values_list("kind", flat=True))


def test_install_stores_the_tenant_with_its_secret_encrypted(jira, site):
    response = jira.installed(site, displayUrl="https://jira.acme.example", oauthClientId="oauth-1")

    assert response.status_code == 204
    host = AtlassianHost.objects.get(client_key=site.client_key)
    assert host.base_url == site.base_url
    assert host.display_url == "https://jira.acme.example"
    assert host.oauth_client_id == "oauth-1"
    assert host.product_type == "jira"
    assert host.is_active
    assert host.shared_secret == Secret(site.secret)
    assert site.secret not in host.encrypted_shared_secret
    assert kinds(site) == ["installed"]


def test_installed_site_can_load_pages(jira, installed_site):
    assert jira.load_page(installed_site).status_code == 200


def test_reinstall_rotates_the_secret_old_refused_new_accepted(jira, installed_site):
    old_secret = installed_site.rotate()

    assert jira.installed(installed_site).status_code == 204

    assert jira.load_page(installed_site, secret=old_secret).status_code == 401
    assert jira.load_page(installed_site).status_code == 200
    assert kinds(installed_site) == ["installed", "secret_rotated"]


def test_reinstall_with_the_same_secret_is_recorded_as_a_reinstall(jira, installed_site):
    assert jira.installed(installed_site).status_code == 204
    assert kinds(installed_site) == ["installed", "reinstalled"]


def test_reinstall_updates_the_base_url(jira, installed_site):
    jira.installed(installed_site, baseUrl="https://renamed.atlassian.net")
    assert AtlassianHost.objects.get(client_key=installed_site.client_key).base_url == "https://renamed.atlassian.net"


def test_uninstall_keeps_the_row_flagged_and_refuses_its_tokens(jira, installed_site):
    assert jira.uninstalled(installed_site).status_code == 204

    host = AtlassianHost.objects.get(client_key=installed_site.client_key)
    assert not host.installed
    assert host.uninstalled_at is not None
    assert jira.load_page(installed_site).status_code == 401
    assert (
        jira.whoami(installed_site, context_token(installed_site.client_key, installed_site.secret)).status_code == 401
    )


def test_reinstall_after_uninstall_finds_the_same_row(jira, installed_site):
    pk = AtlassianHost.objects.get(client_key=installed_site.client_key).pk
    jira.uninstalled(installed_site)
    installed_site.rotate()

    assert jira.installed(installed_site).status_code == 204

    host = AtlassianHost.objects.get(client_key=installed_site.client_key)
    assert host.pk == pk
    assert host.is_active
    assert host.uninstalled_at is None
    assert jira.load_page(installed_site).status_code == 200


def test_uninstall_of_an_unknown_site_is_a_no_op(jira, site):
    assert jira.uninstalled(site).status_code == 204
    assert not AtlassianHost.objects.exists()


def test_uninstall_twice_is_idempotent(jira, installed_site):
    assert jira.uninstalled(installed_site).status_code == 204
    first = AtlassianHost.objects.get(client_key=installed_site.client_key).uninstalled_at
    assert jira.uninstalled(installed_site).status_code == 204
    assert AtlassianHost.objects.get(client_key=installed_site.client_key).uninstalled_at == first


def test_disable_refuses_requests_until_enabled(jira, installed_site):
    assert jira.toggled(installed_site, "disabled").status_code == 204
    assert jira.load_page(installed_site).status_code == 401

    assert jira.toggled(installed_site, "enabled").status_code == 204
    assert jira.load_page(installed_site).status_code == 200
    assert kinds(installed_site) == ["installed", "disabled", "enabled"]


def test_enable_and_disable_need_the_current_secret(jira, installed_site):
    old_secret = installed_site.rotate()
    jira.installed(installed_site)

    assert jira.toggled(installed_site, "disabled", secret=old_secret).status_code == 401
    assert AtlassianHost.objects.get(client_key=installed_site.client_key).enabled


@pytest.mark.parametrize("order", [("disabled", "uninstalled"), ("uninstalled", "disabled")])
def test_disable_and_uninstall_in_either_order_end_uninstalled(jira, installed_site, order):
    for event in order:
        if event == "uninstalled":
            assert jira.uninstalled(installed_site).status_code == 204
        else:
            # After the uninstall the secret is revoked: a late "disabled" is refused, and changes nothing.
            expected = 401 if order[0] == "uninstalled" else 204
            assert jira.toggled(installed_site, event).status_code == expected

    host = AtlassianHost.objects.get(client_key=installed_site.client_key)
    assert not host.installed
    assert not host.enabled
    assert jira.load_page(installed_site).status_code == 401


@pytest.mark.parametrize("event", ["enabled", "disabled"])
def test_uninstall_revokes_the_secret_for_enabled_and_disabled_too(jira, installed_site, event, caplog):
    assert jira.uninstalled(installed_site).status_code == 204
    before = kinds(installed_site)

    with caplog.at_level(logging.WARNING, logger="jira_app.security"):
        response = jira.toggled(installed_site, event)

    assert response.status_code == 401
    assert response.json()["error"] == "inactive_host"
    assert "uninstalled" in caplog.text
    assert kinds(installed_site) == before
    assert jira.load_page(installed_site).status_code == 401
    # A reinstall brings the site back, enabled and disabled included.
    assert jira.installed(installed_site).status_code == 204
    assert jira.toggled(installed_site, event).status_code == 204


def test_every_lifecycle_event_is_logged_without_the_secret(jira, installed_site):
    old = installed_site.rotate()
    jira.installed(installed_site)
    jira.toggled(installed_site, "disabled")
    jira.toggled(installed_site, "enabled")
    jira.uninstalled(installed_site)

    events = LifecycleEvent.objects.filter(host__client_key=installed_site.client_key)
    assert sorted(events.values_list("kind", flat=True)) == sorted(
        ["installed", "secret_rotated", "disabled", "enabled", "uninstalled"]
    )
    for event in events:
        values = " ".join(str(getattr(event, f.attname)) for f in LifecycleEvent._meta.concrete_fields)
        assert installed_site.secret not in values
        assert old not in values


def test_lifecycle_events_are_append_only(jira, installed_site):
    event = LifecycleEvent.objects.get(host__client_key=installed_site.client_key)
    event.kind = LifecycleEvent.Kind.UNINSTALLED
    with pytest.raises(TypeError, match="append-only"):
        event.save()
    with pytest.raises(TypeError, match="append-only"):
        event.delete()


def test_two_sites_are_kept_apart(jira):
    acme, globex = Site("acme"), Site("globex")
    jira.installed(acme)
    jira.installed(globex)
    globex.rotate()
    jira.installed(globex)

    assert jira.load_page(acme).status_code == 200
    assert jira.load_page(globex).status_code == 200
    # A token that names acme but is signed with globex's secret is refused.
    impostor = Site("acme", client_key=acme.client_key, secret=globex.secret)
    assert jira.load_page(impostor).status_code == 401


def test_allowed_hosts_refuse_installs_from_elsewhere(jira, site, settings):
    settings.ATLASSIAN_CONNECT_ALLOWED_HOSTS = ["*.atlassian.net"]
    assert jira.installed(site).status_code == 204

    evil = Site("evil")
    response = jira.installed(evil, baseUrl="https://evil.example.com")
    assert response.status_code == 400
    assert response.json()["error"] == "host_not_allowed"
    assert not AtlassianHost.objects.filter(client_key=evil.client_key).exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("baseUrl", "http://127.0.0.1:19620\\@x.atlassian.net"),
        ("baseUrl", "http://[::1"),
        ("baseUrl", "https://acme.atlassian.net:99999"),
        ("baseUrl", "https://admin:hunter2@acme.atlassian.net"),
        ("baseUrl", "http://acme.atlassian.net"),
        ("baseUrl", "https://169.254.169.254/latest/meta-data"),
        ("displayUrl", "https://x.example;report-uri https://evil.example/csp"),
        ("displayUrl", "https://x.example;report-uri/csp"),
        ("displayUrl", "https://jira.acme.example\nforged"),
    ],
)
def test_install_refuses_a_site_url_the_app_would_not_call(jira, site, settings, field, value):
    settings.ATLASSIAN_CONNECT_ALLOW_LOOPBACK_SITES = False

    response = jira.installed(site, **{field: value})

    assert response.status_code == 400
    assert field in response.json()["message"]
    assert not AtlassianHost.objects.filter(client_key=site.client_key).exists()


def test_install_refuses_a_display_url_outside_the_allowed_hosts(jira, site, settings):
    settings.ATLASSIAN_CONNECT_ALLOWED_HOSTS = ["*.atlassian.net"]

    response = jira.installed(site, displayUrl="https://jira.acme.example")

    assert response.status_code == 400
    assert response.json()["error"] == "host_not_allowed"
    assert "displayUrl" in response.json()["message"]


def test_install_stores_the_site_url_as_parsed(jira, site):
    assert jira.installed(site, baseUrl="https://ACME.atlassian.net/wiki/").status_code == 204
    assert AtlassianHost.objects.get(client_key=site.client_key).base_url == "https://acme.atlassian.net/wiki"


@pytest.mark.parametrize(
    "secret",
    [
        "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----",
        "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 tenant@example",
        '{"kty": "oct", "k": "c2VjcmV0LWtleS1ieXRlcy0wMTIzNDU2Nzg5YWJjZGVm"}',
    ],
    ids=["pem", "ssh", "jwk"],
)
def test_install_refuses_a_shared_secret_that_cannot_sign_hs256(jira, site, secret):
    response = jira.installed(site, sharedSecret=secret)

    assert response.status_code == 400
    assert "sharedSecret" in response.json()["message"]
    assert secret not in response.content.decode()
    assert not AtlassianHost.objects.filter(client_key=site.client_key).exists()
