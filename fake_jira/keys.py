"""Atlassian's install-key service: an RSA key pair per key id (kid), rotation, retirement (docs/protocol.md §2).

Generating an RSA 2048 key takes 50-100 ms, so keys come from a per-process pool: a simulator's n-th key
is the pool's n-th key, generated on first use and shared by every simulator in the process. Kids never
repeat within a process (a counter) and carry a per-process tag, so an app that caches keys by kid, as
Atlassian allows, can never hold a stale key for a kid, even across restarts of a standalone server.
"""

from __future__ import annotations

import itertools
import secrets
import threading
from dataclasses import dataclass
from functools import cached_property

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

PROCESS_TAG = secrets.token_hex(4)
_kid_numbers = itertools.count(1)


class KeyPool:
    """RSA 2048 keys generated on first use and kept for the process: ``key(n)`` is always the same n-th key."""

    def __init__(self) -> None:
        self._keys: list[rsa.RSAPrivateKey] = []
        self._lock = threading.Lock()

    def key(self, index: int) -> rsa.RSAPrivateKey:
        with self._lock:
            while len(self._keys) <= index:
                self._keys.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
            return self._keys[index]


_install_keys = KeyPool()


def _new_kid() -> str:
    # Modern kids are not UUIDs and may hold "/" (GitLab broke on that in Nov 2024, docs/protocol.md §2).
    return f"fake-jira/{PROCESS_TAG}/{next(_kid_numbers):02d}"


@dataclass(frozen=True)
class InstallKey:
    kid: str
    private_key: rsa.RSAPrivateKey

    @cached_property
    def public_pem(self) -> str:
        """The public key as the service serves it: SubjectPublicKeyInfo PEM."""
        return (
            self.private_key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )


class InstallKeyService:
    """The keys one simulator signs installs with; the newest is current, older ones stay served until retired."""

    def __init__(self) -> None:
        self._keys: dict[str, InstallKey] = {}
        self._issued = 0
        self._current: InstallKey | None = None
        self._lock = threading.Lock()

    @property
    def current(self) -> InstallKey:
        """The key new installs are signed with; created on first use."""
        return self._current or self.rotate()

    def rotate(self) -> InstallKey:
        """Start signing with a new key under a new kid, as Atlassian does when it rotates (docs/protocol.md §2)."""
        with self._lock:
            key = InstallKey(_new_kid(), _install_keys.key(self._issued))
            self._issued += 1
            self._keys[key.kid] = key
            self._current = key
        return key

    def retire(self, kid: str) -> None:
        """Stop serving ``kid``: the service answers 404 for it from now on."""
        with self._lock:
            self._keys.pop(kid, None)
            if self._current is not None and self._current.kid == kid:
                self._current = None

    def public_pem(self, kid: str) -> str | None:
        key = self._keys.get(kid)
        return key.public_pem if key else None

    @property
    def kids(self) -> list[str]:
        return list(self._keys)
