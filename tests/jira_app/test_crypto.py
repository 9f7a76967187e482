"""sharedSecret at rest: never printed, stored only as ciphertext, and readable across a key rotation."""

from __future__ import annotations

import logging

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from jira_app.crypto import Secret
from jira_app.models import AtlassianHost
from tests.factories import AtlassianHostFactory

PLAIN = "ATCO-very-secret-value-0123456789abcdef"


# --- Secret: a value that does not print itself --------------------------------------------------------


RENDERINGS = {
    "str": str,
    "repr": repr,
    "f-string": lambda s: f"{s}",
    "f-string-r": lambda s: f"{s!r}",
    "f-string-s": lambda s: f"{s!s}",
    "format": lambda s: format(s, ""),
    "percent": lambda s: "%s %r" % (s, s),  # noqa: UP031
    "str.format": lambda s: "{} {!r}".format(s, s),  # noqa: UP032
    "list": lambda s: str([s]),
    "dict": lambda s: repr({"secret": s}),
    "tuple": lambda s: str((s,)),
}


@pytest.mark.parametrize("render", RENDERINGS.values(), ids=RENDERINGS.keys())
def test_secret_never_prints_its_value(render):
    assert PLAIN not in render(Secret(PLAIN))
    assert "ATCO" not in render(Secret(PLAIN))


def test_secret_stays_hidden_in_log_records(caplog):
    with caplog.at_level(logging.INFO):
        logging.getLogger("jira_app.test").info("secret is %s", Secret(PLAIN))
    assert PLAIN not in caplog.text


def test_secret_reveals_its_value_on_request():
    assert Secret(PLAIN).reveal() == PLAIN


def test_secrets_are_equal_by_value():
    assert Secret(PLAIN) == Secret(PLAIN)
    assert Secret(PLAIN) != Secret(PLAIN + "x")
    assert Secret(PLAIN) != PLAIN  # never equal to the bare string
    assert len({Secret(PLAIN), Secret(PLAIN)}) == 1


# --- Encryption at rest --------------------------------------------------------------------------------


def raw_ciphertexts() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT encrypted_shared_secret FROM {AtlassianHost._meta.db_table}")  # noqa: S608
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.django_db
def test_secret_round_trips_through_the_model():
    host = AtlassianHostFactory(secret=PLAIN)

    stored = AtlassianHost.objects.get(pk=host.pk)

    assert stored.shared_secret == Secret(PLAIN)
    assert stored.shared_secret.reveal() == PLAIN


@pytest.mark.django_db
def test_setting_the_secret_replaces_it():
    host = AtlassianHostFactory(secret=PLAIN)

    host.shared_secret = Secret("ATCO-rotated")
    host.save()

    assert AtlassianHost.objects.get(pk=host.pk).shared_secret == Secret("ATCO-rotated")


@pytest.mark.django_db
def test_database_holds_only_ciphertext():
    AtlassianHostFactory(secret=PLAIN)

    (via_orm,) = AtlassianHost.objects.values_list("encrypted_shared_secret", flat=True)
    (via_sql,) = raw_ciphertexts()

    assert via_orm == via_sql
    assert PLAIN not in via_sql
    assert "very-secret" not in via_sql
    assert via_sql.startswith("gAAAAA")  # a Fernet token


@pytest.mark.django_db
def test_each_encryption_is_fresh():
    # Fernet uses a random IV: two tenants with the same secret do not share a ciphertext.
    one, two = AtlassianHostFactory(secret=PLAIN), AtlassianHostFactory(secret=PLAIN)
    assert one.encrypted_shared_secret != two.encrypted_shared_secret


# --- Key rotation --------------------------------------------------------------------------------------


@pytest.fixture
def old_key(settings) -> str:
    key = Fernet.generate_key().decode()
    settings.ATLASSIAN_CONNECT_ENCRYPTION_KEYS = [key]
    return key


@pytest.mark.django_db
def test_rows_encrypted_with_an_old_key_still_decrypt_after_a_new_key_is_prepended(settings, old_key):
    host = AtlassianHostFactory(secret=PLAIN)
    new_key = Fernet.generate_key().decode()

    settings.ATLASSIAN_CONNECT_ENCRYPTION_KEYS = [new_key, old_key]

    assert AtlassianHost.objects.get(pk=host.pk).shared_secret == Secret(PLAIN)


@pytest.mark.django_db
def test_new_writes_use_the_first_key(settings, old_key):
    host = AtlassianHostFactory(secret=PLAIN)
    new_key = Fernet.generate_key().decode()
    settings.ATLASSIAN_CONNECT_ENCRYPTION_KEYS = [new_key, old_key]

    host.shared_secret = Secret("ATCO-after-rotation")
    host.save()

    (ciphertext,) = raw_ciphertexts()
    assert Fernet(new_key).decrypt(ciphertext.encode()).decode() == "ATCO-after-rotation"
    settings.ATLASSIAN_CONNECT_ENCRYPTION_KEYS = [new_key]
    assert AtlassianHost.objects.get(pk=host.pk).shared_secret == Secret("ATCO-after-rotation")


@pytest.mark.django_db
def test_dropping_the_old_key_too_early_fails_loudly_with_the_fix(settings, old_key):
    host = AtlassianHostFactory(secret=PLAIN)
    assert AtlassianHost.objects.get(pk=host.pk).shared_secret == Secret(PLAIN)  # decrypted (and memoised) once

    settings.ATLASSIAN_CONNECT_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    with pytest.raises(ImproperlyConfigured) as excinfo:
        AtlassianHost.objects.get(pk=host.pk).shared_secret  # noqa: B018
    message = str(excinfo.value)
    assert "ATLASSIAN_CONNECT_ENCRYPTION_KEYS" in message
    assert "put the old key back" in message
    assert PLAIN not in message
    assert old_key not in message


@pytest.mark.django_db
def test_a_row_encrypted_under_another_key_set_is_refused(settings, old_key):
    host = AtlassianHostFactory(secret=PLAIN)

    settings.ATLASSIAN_CONNECT_ENCRYPTION_KEYS = [settings.DEV_ENCRYPTION_KEY]

    with pytest.raises(ImproperlyConfigured):
        AtlassianHost.objects.get(pk=host.pk).shared_secret  # noqa: B018


def test_no_key_at_all_is_a_configuration_error(settings):
    settings.ATLASSIAN_CONNECT_ENCRYPTION_KEYS = []
    with pytest.raises(ImproperlyConfigured, match="ATLASSIAN_CONNECT_ENCRYPTION_KEYS"):
        AtlassianHost().shared_secret = Secret(PLAIN)
