"""A signed install or uninstall token is accepted once, for one body, in every process; and only if it was
issued for this app alone, for no longer than Atlassian's tokens live."""

from __future__ import annotations

import time

import pytest
from freezegun import freeze_time

from jira_app import tokens
from jira_app.crypto import Secret
from jira_app.models import AtlassianHost, InstallTokenUse, LifecycleEvent
from tests.signing import APP_BASE_URL, Site

pytestmark = pytest.mark.django_db


def post(client, path: str, body: bytes, token: str):
    return client.post(path, body, content_type="application/json", HTTP_AUTHORIZATION=f"JWT {token}")


def history(site: Site) -> list[str]:
    return list(
        LifecycleEvent.objects.filter(host__client_key=site.client_key).order_by("id").values_list("kind", flat=True)
    )


def test_an_install_token_replayed_with_another_body_is_refused(client, install_signer, site, caplog):
    token = install_signer.token(site.client_key)
    assert post(client, "/jira/installed", site.lifecycle_body("installed"), token).status_code == 204

    attacker = Site(site.name, client_key=site.client_key, secret="ATCO-attacker-0123456789abcdef0123456789")
    for body in (
        attacker.lifecycle_body("installed"),
        site.lifecycle_body("installed", baseUrl="https://evil.atlassian.net"),
    ):
        response = post(client, "/jira/installed", body, token)
        assert response.status_code == 401
        assert response.json()["error"] == "replayed_token"

    host = AtlassianHost.objects.get(client_key=site.client_key)
    assert host.shared_secret == Secret(site.secret)
    assert host.base_url == site.base_url
    assert history(site) == ["installed"]
    assert attacker.secret not in caplog.text


def test_a_retry_with_the_same_token_and_body_gets_the_same_answer_once_applied(client, install_signer, site):
    token = install_signer.token(site.client_key)
    body = site.lifecycle_body("installed")

    assert post(client, "/jira/installed", body, token).status_code == 204
    assert post(client, "/jira/installed", body, token).status_code == 204

    assert history(site) == ["installed"]
    assert InstallTokenUse.objects.count() == 1


def test_an_uninstall_token_works_once(client, install_signer, site):
    assert (
        post(
            client, "/jira/installed", site.lifecycle_body("installed"), install_signer.token(site.client_key)
        ).status_code
        == 204
    )
    uninstall = install_signer.token(site.client_key, "/jira/uninstalled")
    assert post(client, "/jira/uninstalled", site.lifecycle_body("uninstalled"), uninstall).status_code == 204
    # Reinstalled; the captured uninstall token cannot uninstall the site again.
    assert (
        post(
            client, "/jira/installed", site.lifecycle_body("installed"), install_signer.token(site.client_key)
        ).status_code
        == 204
    )

    retried = post(client, "/jira/uninstalled", site.lifecycle_body("uninstalled"), uninstall)
    other_body = post(client, "/jira/uninstalled", site.lifecycle_body("uninstalled", description="x"), uninstall)

    assert retried.status_code == 204
    assert other_body.status_code == 401
    assert AtlassianHost.objects.get(client_key=site.client_key).installed
    assert history(site) == ["installed", "uninstalled", "reinstalled"]


def test_a_refused_install_does_not_use_up_its_token(client, install_signer, site, settings):
    settings.ATLASSIAN_CONNECT_ALLOWED_HOSTS = ["*.atlassian.net"]
    token = install_signer.token(site.client_key)

    assert (
        post(
            client, "/jira/installed", site.lifecycle_body("installed", baseUrl="https://x.example"), token
        ).status_code
        == 400
    )
    assert not InstallTokenUse.objects.exists()
    assert post(client, "/jira/installed", site.lifecycle_body("installed"), token).status_code == 204


def test_a_used_token_is_forgotten_once_it_has_expired(client, install_signer, site, settings):
    settings.ATLASSIAN_CONNECT_JWT_LEEWAY = 30
    with freeze_time("2026-11-30 10:00:00"):
        token = install_signer.token(site.client_key)
        assert post(client, "/jira/installed", site.lifecycle_body("installed"), token).status_code == 204
        use = InstallTokenUse.objects.get()
        assert use.expires_at.timestamp() == time.time() + 180 + 30
        assert site.client_key == use.client_key

    with freeze_time("2026-11-30 10:05:00"):
        other = Site("other")
        assert (
            post(
                client, "/jira/installed", other.lifecycle_body("installed"), install_signer.token(other.client_key)
            ).status_code
            == 204
        )
        assert list(InstallTokenUse.objects.values_list("client_key", flat=True)) == [other.client_key]


@pytest.mark.parametrize(
    "aud",
    [[APP_BASE_URL, "https://other-app.example"], ["https://other-app.example", APP_BASE_URL]],
    ids=["this app first", "another app first"],
)
def test_an_install_token_for_several_apps_is_refused(client, install_signer, site, aud):
    response = post(
        client, "/jira/installed", site.lifecycle_body("installed"), install_signer.token(site.client_key, aud=aud)
    )

    assert response.status_code == 401
    assert response.json()["error"] == "bad_claims"
    assert not AtlassianHost.objects.exists()


@pytest.mark.parametrize("aud", [APP_BASE_URL, [APP_BASE_URL], [APP_BASE_URL + "/"]])
def test_an_install_token_for_this_app_alone_is_accepted(client, install_signer, site, aud):
    token = install_signer.token(site.client_key, aud=aud)
    assert post(client, "/jira/installed", site.lifecycle_body("installed"), token).status_code == 204


@pytest.mark.parametrize(
    ("lifetime", "status"),
    [(tokens.MAX_INSTALL_TOKEN_LIFETIME, 204), (tokens.MAX_INSTALL_TOKEN_LIFETIME + 1, 401), (10 * 365 * 86400, 401)],
    ids=["15 minutes", "15 minutes and a second", "ten years"],
)
def test_an_install_token_lives_at_most_fifteen_minutes(client, install_signer, site, lifetime, status):
    now = int(time.time())
    token = install_signer.token(site.client_key, iat=now, exp=now + lifetime)

    response = post(client, "/jira/installed", site.lifecycle_body("installed"), token)

    assert response.status_code == status
    assert AtlassianHost.objects.filter(client_key=site.client_key).exists() == (status == 204)
