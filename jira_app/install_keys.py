"""Atlassian's install-signing public keys: fetched by ``kid`` from the configured key service, cached by kid.

The key service's host comes from settings only (ATLASSIAN_CONNECT_INSTALL_KEYS_URL), never from the request;
the ``kid`` is checked against a safe character set before it goes into the URL (docs/protocol.md §2).
"""

from __future__ import annotations

import hashlib
import logging
import re
from urllib.parse import quote

import requests
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from django.core.cache import cache

from jira_app import exceptions, tokens
from jira_app.conf import conf

logger = logging.getLogger(__name__)

# Key ids stopped being UUIDs in late 2024 and may hold "/" between segments (GitLab issue 505372).
_KID_PATTERN = re.compile(r"[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*")
MAX_KID_LENGTH = 256
MAX_KEY_BYTES = 16 * 1024
# Atlassian's install keys are 2048-bit RSA; NIST SP 800-131A allows nothing shorter for signatures.
MIN_KEY_BITS = 2048
# An unknown kid is remembered briefly, so a flood of forged installs cannot hammer the key service.
_UNKNOWN_KID_SECONDS = 60
_UNKNOWN = "unknown"


def validate_kid(kid: object) -> str:
    """Return ``kid`` if it is a plain key id, else raise InvalidKeyId."""
    if not isinstance(kid, str) or not kid:
        raise exceptions.InvalidKeyId("the install token's header has no 'kid' string")
    if len(kid) > MAX_KID_LENGTH:
        raise exceptions.InvalidKeyId(f"the install token's 'kid' is longer than {MAX_KID_LENGTH} characters")
    if not _KID_PATTERN.fullmatch(kid) or any(segment in (".", "..") for segment in kid.split("/")):
        raise exceptions.InvalidKeyId("the install token's 'kid' holds characters a key id never has")
    return kid


def key_url(kid: str) -> str:
    """The key's URL: the kid appended to the configured URL (never joined by URL resolution)."""
    return conf.install_keys_url.rstrip("/") + "/" + quote(validate_kid(kid), safe="/")


def _cache_key(kid: str) -> str:
    return "jira_app:install_key:" + hashlib.sha256(kid.encode()).hexdigest()


def get_install_key(kid: object) -> RSAPublicKey:
    """The RSA public key Atlassian signs installs with under ``kid``.

    Raises InvalidKeyId or UnknownInstallKey (401), or InstallKeyServiceUnavailable (503) when the service is
    down, slow, or answers with anything but a PEM RSA public key.
    """
    kid = validate_kid(kid)
    cached = cache.get(_cache_key(kid))
    if cached == _UNKNOWN:
        raise exceptions.UnknownInstallKey(f"the install-key service does not know kid {kid!r}")
    if cached is None:
        cached = _fetch(kid)
    return tokens.load_public_key(cached)


def _fetch(kid: str) -> str:
    url = key_url(kid)
    try:
        response = requests.get(url, timeout=conf.install_key_timeout, allow_redirects=False)
    except requests.RequestException as exc:
        logger.warning("install-key service unreachable at %s: %s", url, type(exc).__name__)
        raise exceptions.InstallKeyServiceUnavailable(
            "the install-key service did not answer: the install can be retried"
        ) from exc
    if response.status_code == 404:
        cache.set(_cache_key(kid), _UNKNOWN, _UNKNOWN_KID_SECONDS)
        raise exceptions.UnknownInstallKey(f"the install-key service does not know kid {kid!r}")
    if response.status_code != 200 or len(response.content) > MAX_KEY_BYTES:
        logger.warning("install-key service answered %s for %s", response.status_code, url)
        raise exceptions.InstallKeyServiceUnavailable(
            f"the install-key service answered HTTP {response.status_code}: the install can be retried"
        )
    pem = response.text
    try:
        key = tokens.load_public_key(pem)
    except ValueError as exc:
        logger.warning("install-key service sent something that is not a PEM RSA public key for %s", url)
        raise exceptions.InstallKeyServiceUnavailable(
            "the install-key service did not send a PEM RSA public key"
        ) from exc
    if key.key_size < MIN_KEY_BITS:
        logger.warning("install-key service sent a %d-bit RSA key for %s: refused", key.key_size, url)
        raise exceptions.InstallKeyServiceUnavailable(
            f"the install-key service sent an RSA key shorter than {MIN_KEY_BITS} bits"
        )
    cache.set(_cache_key(kid), pem, conf.install_key_cache_seconds)
    return pem
