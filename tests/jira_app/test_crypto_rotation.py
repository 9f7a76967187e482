"""Encryption-key rotation seen from a tenant: installs made while an old key is still listed keep working."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet, InvalidToken

from jira_app.crypto import Secret
from jira_app.models import AtlassianHost
from tests.factories import AtlassianHostFactory

pytestmark = pytest.mark.django_db

PLAIN = "ATCO-rotation-test-secret"


@pytest.fixture
def rotated_keys(settings) -> tuple[str, str]:
    """The key list in the middle of a rotation: the new key first, the old one still listed after it."""
    new_key, old_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.ATLASSIAN_CONNECT_ENCRYPTION_KEYS = [new_key, old_key]
    return new_key, old_key


def test_a_secret_written_during_a_rotation_is_encrypted_with_the_new_key_only(rotated_keys):
    new_key, old_key = rotated_keys
    host = AtlassianHostFactory(secret=PLAIN)

    assert Fernet(new_key).decrypt(host.encrypted_shared_secret.encode()).decode() == PLAIN
    with pytest.raises(InvalidToken):
        Fernet(old_key).decrypt(host.encrypted_shared_secret.encode())


def test_a_secret_written_during_a_rotation_reads_back_while_the_old_key_is_listed(rotated_keys):
    host = AtlassianHostFactory(secret=PLAIN)

    assert AtlassianHost.objects.get(pk=host.pk).shared_secret == Secret(PLAIN)


def test_a_secret_written_during_a_rotation_survives_dropping_the_old_key(settings, rotated_keys):
    new_key, _ = rotated_keys
    host = AtlassianHostFactory(secret=PLAIN)

    settings.ATLASSIAN_CONNECT_ENCRYPTION_KEYS = [new_key]

    assert AtlassianHost.objects.get(pk=host.pk).shared_secret == Secret(PLAIN)


def test_a_site_installed_during_a_rotation_can_load_pages(jira, site, rotated_keys):
    assert jira.installed(site).status_code == 204

    assert jira.load_page(site).status_code == 200


# --- the Secret wrapper --------------------------------------------------------------------------------


def test_a_secret_prints_as_a_fixed_mask():
    assert repr(Secret(PLAIN)) == "Secret('********')"
    assert str(Secret(PLAIN)) == "Secret('********')"


def test_secrets_hash_by_value():
    assert hash(Secret(PLAIN)) == hash(Secret(PLAIN))
    assert hash(Secret(PLAIN)) != hash(Secret(PLAIN + "-other"))
    assert len({Secret(PLAIN), Secret(PLAIN), Secret(PLAIN + "-other")}) == 2
