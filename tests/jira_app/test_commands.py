"""``manage.py reencrypt_shared_secrets``: after it, the old encryption key can be dropped."""

from __future__ import annotations

import io

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError

from jira_app.crypto import Secret
from jira_app.models import AtlassianHost
from tests.factories import AtlassianHostFactory

pytestmark = pytest.mark.django_db


def test_secrets_survive_dropping_the_old_key_after_reencryption(settings):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.ATLASSIAN_CONNECT_ENCRYPTION_KEYS = [old_key]
    hosts = [AtlassianHostFactory(secret=f"ATCO-secret-{n}") for n in range(3)]

    settings.ATLASSIAN_CONNECT_ENCRYPTION_KEYS = [new_key, old_key]
    out = io.StringIO()
    call_command("reencrypt_shared_secrets", stdout=out)
    settings.ATLASSIAN_CONNECT_ENCRYPTION_KEYS = [new_key]

    assert "Re-encrypted 3 shared secrets" in out.getvalue()
    for n, host in enumerate(hosts):
        assert AtlassianHost.objects.get(pk=host.pk).shared_secret == Secret(f"ATCO-secret-{n}")


def test_without_reencryption_dropping_the_old_key_says_how_to_recover(settings):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.ATLASSIAN_CONNECT_ENCRYPTION_KEYS = [old_key]
    host = AtlassianHostFactory(secret="ATCO-secret")

    settings.ATLASSIAN_CONNECT_ENCRYPTION_KEYS = [new_key]
    with pytest.raises(ImproperlyConfigured, match="reencrypt_shared_secrets"):
        _ = AtlassianHost.objects.get(pk=host.pk).shared_secret


def test_reencryption_without_the_old_key_names_the_setting_and_the_fix(settings):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.ATLASSIAN_CONNECT_ENCRYPTION_KEYS = [new_key]
    kept = AtlassianHostFactory(secret="ATCO-new-secret")
    settings.ATLASSIAN_CONNECT_ENCRYPTION_KEYS = [old_key]
    lost = AtlassianHostFactory(secret="ATCO-old-secret")

    settings.ATLASSIAN_CONNECT_ENCRYPTION_KEYS = [new_key]
    with pytest.raises(CommandError) as excinfo:
        call_command("reencrypt_shared_secrets", stdout=io.StringIO())

    message = str(excinfo.value)
    assert f"client_key={lost.client_key!r} cannot be decrypted with any key in ATLASSIAN_CONNECT_ENCRYPTION_KEYS" in (
        message
    )
    assert "add the key it was encrypted with" in message
    assert "ATCO-old-secret" not in message
    assert AtlassianHost.objects.get(pk=kept.pk).shared_secret == Secret("ATCO-new-secret")
