"""jira_app.forge_installations: what a lifecycle trigger's body may say, and the installation rows and events
that triggers, verified calls and Connect installs leave behind (each idempotent)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import transaction
from freezegun import freeze_time

from jira_app.forge import ForgeInvocation
from jira_app.forge_installations import (
    MAX_TRIGGER_BYTES,
    BadTrigger,
    LifecycleTrigger,
    link_connect_install,
    record_trigger,
    resolve,
)
from jira_app.models import AtlassianHost, ForgeInstallation, ForgeLifecycleEvent
from tests.factories import AtlassianHostFactory

pytestmark = pytest.mark.django_db

APP_ID = "ari:cloud:ecosystem::app/3f0c2b9e-5d1a-4c6b-9a27-1e8d4f7a6b05"
INSTALLATION_ID = "ari:cloud:ecosystem::installation/7b1e2c3d-4f5a-4b6c-8d7e-9f0a1b2c3d4e"
OTHER_INSTALLATION_ID = "ari:cloud:ecosystem::installation/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
CLOUD_ID = "5e8c1f0a-8d1b-4f3e-9c7a-2b6d4e1f0a93"
API_BASE_URL = f"https://api.example.test/ex/jira/{CLOUD_ID}"
ENVIRONMENT_ID = "ari:cloud:ecosystem::environment/3f0c2b9e-5d1a-4c6b-9a27-1e8d4f7a6b05/production"
SITE_URL = "https://acme.atlassian.net"
INSTALLER = "557058:0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
UPGRADER = "712020:1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
INSTALLED = ForgeLifecycleEvent.Kind.INSTALLED
UPGRADED = ForgeLifecycleEvent.Kind.UPGRADED
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def invocation(**changes: Any) -> ForgeInvocation:
    """A verified call as jira_app.forge hands it over: a trigger's (no user, no site URL) unless changed."""
    fields: dict[str, Any] = {
        "app_id": APP_ID,
        "installation_id": INSTALLATION_ID,
        "cloud_id": CLOUD_ID,
        "api_base_url": API_BASE_URL,
        "environment_id": ENVIRONMENT_ID,
        "environment_type": "PRODUCTION",
        "module_key": "lifecycle-endpoint",
        "account_id": None,
        "site_url": "",
        "ic_label": None,
        "claims": {},
    }
    return ForgeInvocation(**{**fields, **changes})


def body(event: str = INSTALLED, **changes: Any) -> bytes:
    """A trigger's body as Forge sends it (fake_jira.forge.platform.ForgePlatform.fire); None drops a key."""
    data: dict[str, Any] = {
        "eventType": event,
        "id": INSTALLATION_ID,
        "app": {"id": APP_ID, "version": "1.0.0"},
        "environment": {"id": ENVIRONMENT_ID},
        "context": {"cloudId": CLOUD_ID},
        "installerAccountId" if event == INSTALLED else "upgraderAccountId": INSTALLER,
        **changes,
    }
    return json.dumps({name: value for name, value in data.items() if value is not None}).encode()


def trigger(kind: ForgeLifecycleEvent.Kind = INSTALLED, version: str = "1.0.0", **changes: Any) -> LifecycleTrigger:
    fields = {"installation_id": INSTALLATION_ID, "app_version": version, "account_id": INSTALLER, **changes}
    return LifecycleTrigger(kind=kind, **fields)


def bad_trigger(action) -> tuple[int, str, str]:
    with pytest.raises(BadTrigger) as excinfo:
        action()
    return excinfo.value.status, excinfo.value.reason, excinfo.value.message


# --- LifecycleTrigger.parse ----------------------------------------------------------------------------------


def test_an_install_trigger_names_its_installation_version_and_installer():
    assert LifecycleTrigger.parse(body(INSTALLED)) == LifecycleTrigger(INSTALLED, INSTALLATION_ID, "1.0.0", INSTALLER)


def test_an_upgrade_trigger_names_its_upgrader():
    parsed = LifecycleTrigger.parse(body(UPGRADED, app={"version": "2.0.0"}, upgraderAccountId=UPGRADER))

    assert parsed == LifecycleTrigger(UPGRADED, INSTALLATION_ID, "2.0.0", UPGRADER)


@pytest.mark.parametrize(
    ("changes", "version", "account"),
    [
        ({"app": None}, "", INSTALLER),
        ({"app": {}}, "", INSTALLER),
        ({"app": "1.0.0"}, "", INSTALLER),
        ({"installerAccountId": None}, "1.0.0", ""),
    ],
    ids=["no app", "no version", "app not an object", "no account"],
)
def test_a_trigger_without_version_or_account_has_them_empty(changes, version, account):
    parsed = LifecycleTrigger.parse(body(INSTALLED, **changes))

    assert (parsed.app_version, parsed.account_id) == (version, account)


def test_a_version_of_50_characters_is_accepted_and_of_51_refused():
    assert LifecycleTrigger.parse(body(app={"version": "9" * 50})).app_version == "9" * 50
    assert bad_trigger(lambda: LifecycleTrigger.parse(body(app={"version": "9" * 51}))) == (
        400,
        "bad_trigger",
        "'app.version' or the account id is not a short string",
    )


@pytest.mark.parametrize("event", [INSTALLED, UPGRADED])
def test_an_account_id_of_128_characters_is_accepted_and_of_129_refused(event):
    name = "installerAccountId" if event == INSTALLED else "upgraderAccountId"

    assert LifecycleTrigger.parse(body(event, **{name: "a" * 128})).account_id == "a" * 128
    assert bad_trigger(lambda: LifecycleTrigger.parse(body(event, **{name: "a" * 129}))) == (
        400,
        "bad_trigger",
        "'app.version' or the account id is not a short string",
    )


def padded(size: int) -> bytes:
    """A valid install trigger of exactly ``size`` bytes."""
    unpadded = len(body(pad=""))
    return body(pad="x" * (size - unpadded))


def test_a_trigger_of_16_kib_is_accepted_and_one_byte_more_refused():
    assert len(padded(MAX_TRIGGER_BYTES)) == MAX_TRIGGER_BYTES == 16 * 1024

    assert LifecycleTrigger.parse(padded(MAX_TRIGGER_BYTES)).installation_id == INSTALLATION_ID
    assert bad_trigger(lambda: LifecycleTrigger.parse(padded(MAX_TRIGGER_BYTES + 1))) == (
        400,
        "bad_trigger",
        "the body is larger than 16384 bytes",
    )


NOT_A_LIFECYCLE_EVENT = "eventType must be one of ['avi:forge:installed:app', 'avi:forge:upgraded:app']"
NOT_AN_INSTALLATION = "'id' is not an installation ARI"
NOT_SHORT = "'app.version' or the account id is not a short string"

# Bodies a trigger is refused for, with the exact message (always BadTrigger: 400, bad_trigger).
TRIGGER_REFUSALS = {
    "another event": (
        body("avi:jira:created:issue"),
        "eventType must be one of ['avi:forge:installed:app', 'avi:forge:upgraded:app']",
    ),
    "no event": (
        body(eventType=None),
        "eventType must be one of ['avi:forge:installed:app', 'avi:forge:upgraded:app']",
    ),
    "no id": (body(id=None), NOT_AN_INSTALLATION),
    "id not an ARI": (body(id="../../etc"), NOT_AN_INSTALLATION),
    "id an app ARI": (body(id=APP_ID), NOT_AN_INSTALLATION),
    "id not a string": (body(id=5), NOT_AN_INSTALLATION),
    "version not a string": (body(app={"version": 3}), NOT_SHORT),
    "installer not a string": (body(installerAccountId=5), NOT_SHORT),
    "upgrader not a string": (body(UPGRADED, upgraderAccountId=["a"]), NOT_SHORT),
}


@pytest.mark.parametrize("case", TRIGGER_REFUSALS.values(), ids=TRIGGER_REFUSALS.keys())
def test_a_bad_trigger_body_is_refused_saying_why(case):
    data, message = case

    assert bad_trigger(lambda: LifecycleTrigger.parse(data)) == (400, "bad_trigger", message)


def test_a_body_that_is_not_a_json_object_is_a_bad_trigger():
    status, reason, _ = bad_trigger(lambda: LifecycleTrigger.parse(b"[]"))

    assert (status, reason) == (400, "bad_trigger")


# --- record_trigger ----------------------------------------------------------------------------------------


def test_an_install_trigger_records_the_installation_and_one_event():
    with freeze_time(NOW):
        installation = record_trigger(invocation(), trigger(INSTALLED))

    stored = ForgeInstallation.objects.get()
    assert stored.pk == installation.pk
    assert stored.installation_id == INSTALLATION_ID
    assert (stored.cloud_id, stored.api_base_url) == (CLOUD_ID, API_BASE_URL)
    assert (stored.environment_id, stored.environment_type) == (ENVIRONMENT_ID, "PRODUCTION")
    assert (stored.app_version, stored.installed_at, stored.upgraded_at) == ("1.0.0", NOW, None)
    event = ForgeLifecycleEvent.objects.get()
    assert (event.installation_id, event.kind, event.app_version) == (stored.pk, INSTALLED, "1.0.0")
    assert (event.account_id, event.deliveries, event.received_at) == (INSTALLER, 1, NOW)


def test_a_retried_trigger_counts_a_delivery_and_changes_nothing_else():
    with freeze_time(NOW):
        record_trigger(invocation(), trigger(INSTALLED))
    with freeze_time(NOW + timedelta(seconds=5)):
        record_trigger(invocation(), trigger(INSTALLED, account_id=UPGRADER))
        record_trigger(invocation(), trigger(INSTALLED))

    event = ForgeLifecycleEvent.objects.get()
    assert (event.deliveries, event.account_id, event.received_at) == (3, INSTALLER, NOW)
    assert ForgeInstallation.objects.get().installed_at == NOW


def test_an_upgrade_trigger_stamps_the_upgrade_and_keeps_the_install():
    with freeze_time(NOW):
        record_trigger(invocation(), trigger(INSTALLED, "1.0.0"))
    with freeze_time(NOW + timedelta(days=1)):
        record_trigger(invocation(), trigger(UPGRADED, "2.0.0", account_id=UPGRADER))

    stored = ForgeInstallation.objects.get()
    assert (stored.app_version, stored.installed_at, stored.upgraded_at) == ("2.0.0", NOW, NOW + timedelta(days=1))
    assert list(ForgeLifecycleEvent.objects.values_list("kind", "app_version", "account_id", "deliveries")) == [
        (UPGRADED, "2.0.0", UPGRADER, 1),
        (INSTALLED, "1.0.0", INSTALLER, 1),
    ]


def test_each_kind_and_version_is_its_own_event():
    record_trigger(invocation(), trigger(INSTALLED, "1.0.0"))
    record_trigger(invocation(), trigger(UPGRADED, "1.0.0"))
    record_trigger(invocation(), trigger(UPGRADED, "2.0.0"))
    record_trigger(invocation(), trigger(UPGRADED, "3.0.0"))

    assert sorted(ForgeLifecycleEvent.objects.values_list("kind", "app_version", "deliveries")) == [
        (INSTALLED, "1.0.0", 1),
        (UPGRADED, "1.0.0", 1),
        (UPGRADED, "2.0.0", 1),
        (UPGRADED, "3.0.0", 1),
    ]
    assert ForgeInstallation.objects.get().app_version == "3.0.0"


def test_the_same_trigger_for_another_installation_is_that_installations_event():
    record_trigger(invocation(), trigger(INSTALLED))
    record_trigger(invocation(installation_id=OTHER_INSTALLATION_ID), trigger(installation_id=OTHER_INSTALLATION_ID))

    assert sorted(ForgeLifecycleEvent.objects.values_list("installation__installation_id", "deliveries")) == [
        (OTHER_INSTALLATION_ID, 1),
        (INSTALLATION_ID, 1),
    ]


def test_a_trigger_naming_another_installation_than_its_token_is_refused_and_recorded_nowhere():
    # The body is not signed: only the token says which installation the call is for.
    refused = bad_trigger(lambda: record_trigger(invocation(), trigger(installation_id=OTHER_INSTALLATION_ID)))

    assert refused == (400, "bad_trigger", "the body's 'id' is not the token's app.installationId")
    assert not ForgeInstallation.objects.exists()
    assert not ForgeLifecycleEvent.objects.exists()


def test_a_recorded_trigger_is_logged_once_with_its_installation_and_version(caplog):
    caplog.set_level(logging.INFO, logger="jira_app.forge_installations")

    record_trigger(invocation(), trigger(UPGRADED, "2.0.0"))
    record_trigger(invocation(), trigger(UPGRADED, "2.0.0"))

    assert [r.getMessage() for r in caplog.records if r.name == "jira_app.forge_installations"] == [
        f"forge upgraded installation_id={INSTALLATION_ID!r} version='2.0.0'"
    ]


# --- resolve: the installation of any verified call ----------------------------------------------------------


def test_a_call_records_its_installation_once():
    first = resolve(invocation())
    second = resolve(invocation())

    assert first.pk == second.pk
    stored = ForgeInstallation.objects.get()
    assert (stored.installation_id, stored.cloud_id, stored.api_base_url) == (INSTALLATION_ID, CLOUD_ID, API_BASE_URL)
    assert (stored.environment_id, stored.environment_type, stored.host) == (ENVIRONMENT_ID, "PRODUCTION", None)
    assert (stored.app_version, stored.installed_at) == ("", None)


def test_a_call_brings_a_moved_installation_up_to_date():
    resolve(invocation())

    resolve(invocation(api_base_url="https://api.eu.example.test/ex/jira/1", environment_type="STAGING"))

    stored = ForgeInstallation.objects.get()
    assert (stored.api_base_url, stored.environment_type) == ("https://api.eu.example.test/ex/jira/1", "STAGING")
    assert (stored.cloud_id, stored.environment_id) == (CLOUD_ID, ENVIRONMENT_ID)


def test_a_call_that_does_not_say_a_field_leaves_it_as_recorded():
    resolve(invocation())

    resolve(invocation(cloud_id="", environment_id="", environment_type=""))

    stored = ForgeInstallation.objects.get()
    assert (stored.cloud_id, stored.environment_id, stored.environment_type) == (CLOUD_ID, ENVIRONMENT_ID, "PRODUCTION")


def test_a_call_from_a_user_links_the_installation_to_the_tenant_at_its_site_url():
    AtlassianHostFactory(base_url="https://other.atlassian.net", installed_at=NOW + timedelta(days=2))
    tenant = AtlassianHostFactory(base_url=SITE_URL, installed_at=NOW)

    installation = resolve(invocation(site_url=SITE_URL))

    assert installation.host == tenant
    assert ForgeInstallation.objects.get().host == tenant


def test_a_call_links_the_installation_to_the_latest_installed_tenant_of_its_site():
    AtlassianHostFactory(base_url=SITE_URL, installed_at=NOW - timedelta(days=2))
    latest = AtlassianHostFactory(base_url=SITE_URL, installed_at=NOW)
    AtlassianHostFactory(base_url=SITE_URL, installed_at=NOW + timedelta(days=1), installed=False)

    resolve(invocation(site_url=SITE_URL))

    assert ForgeInstallation.objects.get().host == latest


def test_a_call_does_not_link_to_an_uninstalled_tenant_or_one_at_another_site():
    AtlassianHostFactory(base_url=SITE_URL, installed=False)
    AtlassianHostFactory(base_url="https://other.atlassian.net")

    resolve(invocation(site_url=SITE_URL))
    resolve(invocation())

    assert ForgeInstallation.objects.get().host is None


def test_a_linked_installation_stays_with_its_tenant_whatever_site_a_call_names():
    tenant = AtlassianHostFactory(base_url=SITE_URL)
    AtlassianHostFactory(base_url="https://other.atlassian.net")
    resolve(invocation(site_url=SITE_URL))

    installation = resolve(invocation(site_url="https://other.atlassian.net"))

    assert installation.host == tenant
    assert ForgeInstallation.objects.get().host == tenant


def test_a_call_from_a_user_links_an_installation_first_recorded_without_a_site():
    tenant = AtlassianHostFactory(base_url=SITE_URL)
    record_trigger(invocation(), trigger(INSTALLED))

    resolve(invocation(site_url=SITE_URL))

    assert ForgeInstallation.objects.get().host == tenant


# --- link_connect_install: the Connect install of a Connect-on-Forge app -------------------------------------


def link(host: AtlassianHost, installation_id: str = INSTALLATION_ID) -> None:
    with transaction.atomic():  # as the install callback calls it, inside its own transaction
        link_connect_install(host, installation_id)


def test_a_connect_install_records_the_installation_it_names_for_its_tenant():
    tenant = AtlassianHostFactory(base_url=SITE_URL)

    link(tenant)

    stored = ForgeInstallation.objects.get()
    assert (stored.installation_id, stored.host) == (INSTALLATION_ID, tenant)


def test_a_connect_install_links_an_installation_a_trigger_recorded():
    recorded = record_trigger(invocation(), trigger(INSTALLED))
    tenant = AtlassianHostFactory(base_url=SITE_URL)

    link(tenant)

    stored = ForgeInstallation.objects.get()
    assert (stored.pk, stored.host, stored.app_version) == (recorded.pk, tenant, "1.0.0")


def test_a_connect_install_moves_the_installation_to_the_tenant_installing_it():
    # A site reinstalled under a new clientKey: the installation belongs to the tenant that installed last.
    old = AtlassianHostFactory(base_url=SITE_URL)
    new = AtlassianHostFactory(base_url=SITE_URL)
    link(old)

    link(new)
    link(new)

    assert ForgeInstallation.objects.get().host == new


def test_the_connect_install_callback_links_the_installation_its_body_names(jira, site):
    response = jira.installed(site, installationId=INSTALLATION_ID)

    assert response.status_code == 204
    stored = ForgeInstallation.objects.get()
    assert stored.installation_id == INSTALLATION_ID
    assert stored.host == AtlassianHost.objects.get(client_key=site.client_key)
