"""The bench's requests are ones the app accepts, as Jira's would be: a refused request cannot pass for a
fast one, and a webhook the de-duplication swallowed would not measure a stored delivery.

The requests go to the app in this process (Django's test client), signed by fake_jira as in the bench.
"""

from __future__ import annotations

import itertools
import json

import pytest
from django.test import Client

from benchmarks import workload
from fake_jira.simulator import FakeJira
from fake_jira.tokens import new_shared_secret
from fake_jira.transports import DjangoClientTransport
from jira_app import crypto
from jira_app.models import AtlassianHost, WebhookDelivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def tenants(settings, fake_jira: FakeJira) -> list[workload.Tenant]:
    settings.ATLASSIAN_CONNECT_INSTALL_KEYS_URL = fake_jira.keys_url
    settings.ATLASSIAN_CONNECT_BASE_URL = "http://testserver"
    app = fake_jira.connect_app(DjangoClientTransport(Client()), workload.DESCRIPTOR_PATH)
    return workload.install_tenants(fake_jira, app, "bench", 2)


def send(client: Client, request: workload.Request):
    headers = request.header_items()
    content_type = headers.pop("Content-Type", None)
    path, _, query = request.target.partition("?")
    if request.method == "GET":
        return client.get(path, QUERY_STRING=query, headers=headers)
    return client.generic(request.method, path, request.body, content_type=content_type or "", headers=headers)


def test_every_webhook_delivery_is_verified_and_stored_once(tenants):
    client = Client()
    deliveries = list(itertools.islice(workload.webhook_deliveries(tenants), 6))

    statuses = [send(client, request).status_code for request in deliveries]

    assert statuses == [204] * 6
    stored = WebhookDelivery.objects.all()
    assert stored.count() == 6  # each its own identifier: none taken for a retry of another
    assert {d.host.client_key for d in stored} == {t.site.client_key for t in tenants}
    assert all(d.duplicates == 0 and d.event == workload.WEBHOOK_EVENT for d in stored)


def test_page_loads_and_context_calls_are_answered_for_each_tenant(tenants):
    client = Client()
    pages = list(itertools.islice(workload.page_loads(tenants), 2))
    calls = list(itertools.islice(workload.context_calls(tenants), 2))

    assert [send(client, request).status_code for request in pages] == [200, 200]
    answers = [send(client, request) for request in calls]
    assert [json.loads(a.content)["clientKey"] for a in answers] == [t.site.client_key for t in tenants]


def test_a_seeded_tenant_is_looked_up_by_its_own_secret(tenants):
    secret = new_shared_secret()
    AtlassianHost.objects.create(
        client_key="seeded-1",
        base_url="https://filler-1.atlassian.net",
        product_type="jira",
        encrypted_shared_secret=crypto.encrypt(crypto.Secret(secret)),
    )
    seeded = [workload.SeededTenant("seeded-1", secret)]

    answer = send(Client(), next(workload.seeded_context_calls(tenants[0].app, seeded)))

    assert answer.status_code == 200
    assert json.loads(answer.content)["clientKey"] == "seeded-1"


def test_bare_requests_go_to_bare_djangos_one_view():
    request = next(workload.bare_requests())

    assert (request.method, request.target, request.header_items()) == ("GET", workload.BARE_PATH, {})
