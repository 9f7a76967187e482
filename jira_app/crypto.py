"""sharedSecret at rest: Fernet encryption with rotatable keys, and a wrapper that never prints its value."""

from __future__ import annotations

import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.core.exceptions import ImproperlyConfigured
from jwt.algorithms import HMACAlgorithm
from jwt.exceptions import InvalidKeyError

from jira_app.conf import conf


class Secret:
    """A secret string whose ``str`` and ``repr`` hide it; ``reveal()`` is the one way in."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(self._value)


def is_hmac_key(value: str) -> bool:
    """Whether PyJWT will sign and verify HS256 with ``value``: it refuses PEM-, SSH- and JWK-shaped strings.

    A sharedSecret it refuses would be stored and then fail every request of that tenant, so install refuses it.
    """
    try:
        HMACAlgorithm(HMACAlgorithm.SHA256).prepare_key(value)
    except InvalidKeyError:
        return False
    return True


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("ATLASSIAN_CONNECT_ENCRYPTION_KEYS is empty: see `manage.py check`.")
    return MultiFernet([Fernet(key) for key in keys])


def encrypt(secret: Secret) -> str:
    """Encrypt with the first configured key."""
    return _fernet(tuple(conf.encryption_keys)).encrypt(secret.reveal().encode()).decode()


@lru_cache(maxsize=8192)
def _decrypt(keys: tuple[str, ...], ciphertext: str) -> str:
    # Pure in (keys, ciphertext), so memoised: every authenticated request decrypts its tenant's secret.
    return _fernet(keys).decrypt(ciphertext.encode()).decode()


def reencrypt(ciphertext: str) -> str:
    """The same secret, encrypted with the first configured key (after a key rotation)."""
    return _fernet(tuple(conf.encryption_keys)).rotate(ciphertext.encode()).decode()


def decrypt(ciphertext: str) -> Secret:
    try:
        return Secret(_decrypt(tuple(conf.encryption_keys), ciphertext))
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "A stored sharedSecret cannot be decrypted with ATLASSIAN_CONNECT_ENCRYPTION_KEYS: put the old key "
            "back in the list (after the new one) and run `manage.py reencrypt_shared_secrets` before dropping it."
        ) from exc
