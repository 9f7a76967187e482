"""The tenant store: the lean lookup used on every request returns the same tenant the ORM would."""

from __future__ import annotations

import pytest

from jira_app.crypto import Secret
from jira_app.models import AtlassianHost
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
