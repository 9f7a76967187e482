"""``webhook_received``, the documented hook for acting on a webhook: sent once per delivery, never for a retry."""

from __future__ import annotations

import logging
import threading

import pytest
from django.db import connection

from jira_app import signals, webhooks
from jira_app.models import AtlassianHost, WebhookDelivery

pytestmark = pytest.mark.django_db

JSON = "application/json"


@pytest.fixture
def received():
    calls = []

    def on_webhook(sender, **kwargs):
        calls.append((sender, kwargs))

    signals.webhook_received.connect(on_webhook)
    yield calls
    signals.webhook_received.disconnect(on_webhook)


def test_a_new_delivery_is_announced_once_with_its_tenant_and_row(jira, installed_site, received):
    assert jira.webhook(installed_site, identifier="wh-1").status_code == 204

    delivery = WebhookDelivery.objects.get()
    assert received == [
        (AtlassianHost, {"signal": signals.webhook_received, "host": delivery.host, "delivery": delivery})
    ]
    assert delivery.host.client_key == installed_site.client_key


def test_a_retry_is_not_announced_again(jira, installed_site, received):
    assert jira.webhook(installed_site, identifier="wh-1").status_code == 204
    assert jira.webhook(installed_site, identifier="wh-1", retry="1").status_code == 204

    assert len(received) == 1


def test_record_delivery_says_whether_the_delivery_is_new(installed_site, caplog):
    host = AtlassianHost.objects.get(client_key=installed_site.client_key)
    body = b'{"webhookEvent": "jira:issue_created"}'

    first, created = webhooks.record_delivery(host, identifier="wh-1", retry="0", content_type=JSON, body=body)
    assert created
    with caplog.at_level(logging.INFO, logger="jira_app.webhooks"):
        again, created_again = webhooks.record_delivery(
            host, identifier="wh-1", retry="1", content_type=JSON, body=body
        )

    assert not created_again
    assert again.pk == first.pk
    again.refresh_from_db()
    assert (again.duplicates, again.retry_count) == (1, 0)
    (record,) = caplog.records
    assert "wh-1" in record.getMessage()
    assert installed_site.client_key in record.getMessage()


@pytest.mark.parametrize(
    ("body", "event"),
    [
        (b'{"webhookEvent": "jira:issue_updated"}', "jira:issue_updated"),
        (b'{"webhookEvent": ""}', ""),
        (b'{"webhookEvent": null}', ""),
        (b'{"issue": {}}', ""),
        (b'{"webhookEvent": 7}', "7"),
    ],
)
def test_the_event_name_is_kept_as_sent(jira, installed_site, body, event):
    assert jira.webhook(installed_site, body=body).status_code == 204

    delivery = WebhookDelivery.objects.get()
    assert delivery.event == event
    assert delivery.identifier == "wh-1"


def test_a_retry_counts_against_its_own_delivery_only(jira, installed_site):
    other = installed_site.__class__("other")
    assert jira.installed(other).status_code == 204
    for site, identifier in [(installed_site, "wh-1"), (installed_site, "wh-2"), (other, "wh-1")]:
        assert jira.webhook(site, identifier=identifier).status_code == 204

    assert jira.webhook(installed_site, identifier="wh-1", retry="1").status_code == 204

    duplicates = {
        (delivery.host.client_key, delivery.identifier): delivery.duplicates
        for delivery in WebhookDelivery.objects.select_related("host")
    }
    assert duplicates == {
        (installed_site.client_key, "wh-1"): 1,
        (installed_site.client_key, "wh-2"): 0,
        (other.client_key, "wh-1"): 0,
    }


@pytest.mark.postgresql  # SQLite lets one writer in at a time: there is no race to lose there
@pytest.mark.django_db(transaction=True)
def test_copies_of_one_delivery_arriving_at_once_are_kept_and_announced_once(installed_site, received):
    host = AtlassianHost.objects.get(client_key=installed_site.client_key)
    copies = 8
    start = threading.Barrier(copies)
    results, errors = [], []

    def deliver(retry: int) -> None:
        try:
            start.wait(timeout=30)
            body = b'{"webhookEvent": "jira:issue_created"}'
            arguments = {"identifier": "wh-1", "retry": str(retry), "content_type": JSON, "body": body}
            results.append(webhooks.record_delivery(host, **arguments))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()  # the thread's own connection, else the test database cannot be dropped

    threads = [threading.Thread(target=deliver, args=(retry,)) for retry in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert sorted(created for _, created in results) == [False] * (copies - 1) + [True]
    assert len({delivery.pk for delivery, _ in results}) == 1
    assert WebhookDelivery.objects.get().duplicates == copies - 1
    assert len(received) == 1
