"""factory_boy factories for the tenant store."""

from __future__ import annotations

import uuid

import factory

from jira_app.crypto import Secret
from jira_app.models import AtlassianHost


class AtlassianHostFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AtlassianHost

    class Params:
        secret = factory.LazyFunction(lambda: "ATCO" + uuid.uuid4().hex)

    client_key = factory.LazyFunction(lambda: str(uuid.uuid4()))
    base_url = factory.Sequence(lambda n: f"https://site{n}.atlassian.net")
    product_type = "jira"
    description = factory.LazyAttribute(lambda host: f"Atlassian JIRA at {host.base_url}")

    @factory.lazy_attribute
    def encrypted_shared_secret(self):
        host = AtlassianHost()
        host.shared_secret = Secret(self.secret)
        return host.encrypted_shared_secret
