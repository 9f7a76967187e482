"""Forge's invocation-token signing keys: a JWKS that publishes the next key before it signs with it.

Keys are RSA 2048, generated once per process into a pool of their own (never shared with the install-key
service's), so a "key from another JWKS" is really another key. Kids never repeat within a process.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from fake_jira.keys import PROCESS_TAG, KeyPool

_numbers = itertools.count(1)
# A pool of Forge's own, so that a "key from another JWKS" is really another key than the install service's.
_forge_keys = KeyPool()


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey

    def jwk(self) -> dict[str, Any]:
        """The public half as a JWK, as Forge's JWKS lists it."""
        jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.private_key.public_key()))
        return {**jwk, "kid": self.kid, "alg": "RS256", "use": "sig"}


class ForgeKeySet:
    """The keys one Forge platform signs with. ``current`` signs; ``upcoming`` is already published, so an app
    that cached the set verifies the first tokens after a rotation without a fetch; retired keys vanish."""

    def __init__(self, name: str = "forge") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._issued = 0
        self._published: dict[str, SigningKey] = {}
        self.current = self._new_key()
        self.upcoming = self._new_key()

    def _new_key(self) -> SigningKey:
        key = SigningKey(f"{self._name}/{PROCESS_TAG}/{next(_numbers):02d}", _forge_keys.key(self._pool_index()))
        self._published[key.kid] = key
        return key

    def _pool_index(self) -> int:
        # Each key set takes keys from its own end of the pool, so two sets never share a key.
        index = self._issued * 2 + (0 if self._name == "forge" else 1)
        self._issued += 1
        return index

    def rotate(self) -> SigningKey:
        """Sign with the published upcoming key from now on, and publish a new upcoming one."""
        with self._lock:
            self.current, self.upcoming = self.upcoming, self._new_key()
            return self.current

    def retire(self, kid: str) -> None:
        """Stop publishing ``kid`` (an app that refetches the set no longer finds it)."""
        with self._lock:
            self._published.pop(kid, None)

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            return {"keys": [key.jwk() for key in self._published.values()]}
