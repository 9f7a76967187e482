"""The tenant store's lean statements: the lookup on every request and the insert of each webhook delivery do
what the ORM would."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import transaction

from jira_app.crypto import Secret
from jira_app.models import AtlassianHost, WebhookDelivery
from tests.factories import AtlassianHostFactory

pytestmark = pytest.mark.django_db


def test_lookup_for_authentication_finds_the_tenant_with_its_secret():
    AtlassianHostFactory()
    host = AtlassianHostFactory(secret="ATCO-the-secret", display_url="https://jira.acme.example", enabled=False)

    found = AtlassianHost.objects.for_authentication(host.client_key)

    assert found is not None
    assert found.pk == host.pk
    assert found.shared_secret == Secret("ATCO-the-secret")
    assert (found.base_url, found.display_url, found.installed, found.enabled) == (
        host.base_url,
        "https://jira.acme.example",
        True,
        False,
    )
    # Fields it does not fetch still load on first access.
    assert found.description == host.description
    assert found.installed_at == host.installed_at


def test_lookup_for_an_unknown_client_key_is_none():
    AtlassianHostFactory()
    assert AtlassianHost.objects.for_authentication("nobody") is None


@pytest.mark.parametrize("client_key", ["' OR '1'='1", "x; DROP TABLE jira_app_atlassianhost; --", "%", "_"])
def test_lookup_treats_the_client_key_as_data(client_key):
    AtlassianHostFactory()
    assert AtlassianHost.objects.for_authentication(client_key) is None
    assert AtlassianHost.objects.count() == 1


def _delivery(host, identifier="wh-1", **fields):
    return WebhookDelivery(host=host, identifier=identifier, event="jira:issue_created", payload={"a": [1]}, **fields)


def test_a_new_delivery_is_stored_as_the_orm_would_store_it():
    host = AtlassianHostFactory()
    received = datetime(2026, 11, 30, 17, 0, 0, 123456, tzinfo=UTC)
    payload = {"webhookEvent": "jira:issue_created", "issue": {"key": "ÄB-1", "n": 1.5, "none": None}}
    delivery = WebhookDelivery(
        host=host, identifier="wh-1", event="jira:issue_created", payload=payload, retry_count=3, received_at=received
    )

    assert WebhookDelivery.objects.add_unless_seen(delivery)

    stored = WebhookDelivery.objects.get()
    assert delivery.pk == stored.pk
    assert not delivery._state.adding  # a save() after it updates the row instead of inserting another
    fields = ("host_id", "identifier", "event", "payload", "retry_count", "duplicates", "received_at")
    expected = [host.pk, "wh-1", "jira:issue_created", payload, 3, 0, received]
    assert [getattr(stored, name) for name in fields] == expected


def test_an_identifier_seen_before_from_the_same_site_is_not_stored_again():
    host, other_host = AtlassianHostFactory(), AtlassianHostFactory()
    first = _delivery(host)
    assert WebhookDelivery.objects.add_unless_seen(first)

    again = _delivery(host, retry_count=1)
    assert not WebhookDelivery.objects.add_unless_seen(again)
    assert again.pk is None
    # Another site's identifier is its own, and a delivery without one is always new.
    assert WebhookDelivery.objects.add_unless_seen(_delivery(other_host))
    assert WebhookDelivery.objects.add_unless_seen(_delivery(host, identifier=""))
    assert WebhookDelivery.objects.add_unless_seen(_delivery(host, identifier=""))
    assert sorted(WebhookDelivery.objects.values_list("host_id", "identifier", "retry_count")) == sorted(
        [(host.pk, "wh-1", 0), (other_host.pk, "wh-1", 0), (host.pk, "", 0), (host.pk, "", 0)]
    )


def test_a_repeated_identifier_inside_a_transaction_leaves_the_transaction_usable():
    host = AtlassianHostFactory()
    with transaction.atomic():  # as under ATOMIC_REQUESTS: an IntegrityError here would doom the block
        assert WebhookDelivery.objects.add_unless_seen(_delivery(host))
        assert not WebhookDelivery.objects.add_unless_seen(_delivery(host))
        assert WebhookDelivery.objects.count() == 1
