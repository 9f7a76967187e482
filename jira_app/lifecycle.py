"""The lifecycle callbacks: installed, uninstalled, enabled, disabled (docs/protocol.md §2).

Each handler runs after the middleware verified the token, is idempotent, and tolerates callbacks arriving
out of order (disabled and uninstalled may come a few milliseconds apart, in either order: docs/protocol.md §2). A
reinstall rotates the secret inside one transaction holding the tenant's row lock, so from its response on
every process sees only the new secret.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from jira_app import bodies, crypto, exceptions, forge, forge_installations, hosts, signals
from jira_app.conf import conf
from jira_app.crypto import Secret
from jira_app.models import AtlassianHost, InstallTokenUse, LifecycleEvent
from jira_app.tokens import VerifiedToken

logger = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES = 64 * 1024
MAX_SECRET_BYTES = 400  # Atlassian: store up to 400 bytes, treat as opaque (docs/protocol.md §2)
_FIELD_LENGTHS = {"clientKey": 255, "baseUrl": 255, "displayUrl": 255, "productType": 50, "oauthClientId": 255,
                  "serviceEntitlementNumber": 255, "description": 10_000, "key": 64,
                  "installationId": 255}  # fmt: skip


@dataclass(frozen=True)
class LifecyclePayload:
    """The JSON body of a lifecycle callback, checked for shape; untrusted until its token is verified."""

    event_type: str
    client_key: str
    base_url: str
    display_url: str
    product_type: str
    description: str
    oauth_client_id: str
    service_entitlement_number: str
    shared_secret: Secret | None
    body_digest: str
    # baseUrl and displayUrl as parsed and checked, by field name: what the host allow-list is checked on.
    site_urls: tuple[tuple[str, hosts.SiteUrl], ...]
    # A Connect-on-Forge install names its Forge installation (docs/forge.md); "" for a plain Connect install.
    installation_id: str = ""

    @classmethod
    def parse(cls, body: bytes, *, expected_event: str) -> LifecyclePayload:
        """Parse and check a callback body; raises BadLifecyclePayload (400) saying what is wrong."""
        data = bodies.json_object(body, max_bytes=MAX_PAYLOAD_BYTES, error=exceptions.BadLifecyclePayload)
        fields = {name: _optional_string(data, name) for name in _FIELD_LENGTHS}
        for name in ("clientKey", "baseUrl"):
            if not fields[name]:
                raise exceptions.BadLifecyclePayload(f"the body has no '{name}'")
        site_urls = []
        for name in ("baseUrl", "displayUrl"):
            if fields[name]:
                site = _site_url(fields[name], name)
                fields[name] = site.url
                site_urls.append((name, site))
        if fields["key"] and fields["key"] != conf.app_key:
            raise exceptions.BadLifecyclePayload(f"the body is for app '{fields['key']}', not '{conf.app_key}'")
        event_type = _optional_string(data, "eventType")
        if event_type and event_type != expected_event:
            raise exceptions.BadLifecyclePayload(f"eventType '{event_type}' was sent to the {expected_event} callback")
        if fields["installationId"] and not forge.INSTALLATION_ARI.fullmatch(fields["installationId"]):
            raise exceptions.BadLifecyclePayload("'installationId' is not a Forge installation ARI")
        secret = data.get("sharedSecret")
        if expected_event == "installed":
            if not isinstance(secret, str) or not secret:
                raise exceptions.BadLifecyclePayload("the body has no 'sharedSecret'")
            if len(secret.encode()) > MAX_SECRET_BYTES:
                raise exceptions.BadLifecyclePayload(f"'sharedSecret' is longer than {MAX_SECRET_BYTES} bytes")
            if not crypto.is_hmac_key(secret):
                raise exceptions.BadLifecyclePayload(
                    "'sharedSecret' is shaped like a public key or JWK, not an HS256 key"
                )
        return cls(
            event_type=expected_event,
            client_key=fields["clientKey"],
            base_url=fields["baseUrl"],
            display_url=fields["displayUrl"],
            product_type=fields["productType"],
            description=fields["description"],
            oauth_client_id=fields["oauthClientId"],
            service_entitlement_number=fields["serviceEntitlementNumber"],
            shared_secret=Secret(secret) if expected_event == "installed" and isinstance(secret, str) else None,
            body_digest=hashlib.sha256(body).hexdigest(),
            site_urls=tuple(site_urls),
            installation_id=fields["installationId"],
        )


def _optional_string(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise exceptions.BadLifecyclePayload(f"'{name}' is not a string")
    if len(value) > _FIELD_LENGTHS.get(name, 255):
        raise exceptions.BadLifecyclePayload(f"'{name}' is longer than {_FIELD_LENGTHS.get(name, 255)} characters")
    return value


def _site_url(value: str, name: str) -> hosts.SiteUrl:
    try:
        return hosts.parse(value, field=name)
    except hosts.InvalidSiteUrl as exc:
        raise exceptions.BadLifecyclePayload(str(exc)) from None


def _require_issuer_is_client_key(token: VerifiedToken, payload: LifecyclePayload) -> None:
    # The body is not covered by the signature, so it must name the site the token was issued for (docs/mistakes.md).
    if token.issuer != payload.client_key:
        raise exceptions.ClientKeyMismatch("the token's iss does not match the body's clientKey")


def _require_allowed_host(payload: LifecyclePayload) -> None:
    for name, site in payload.site_urls:
        try:
            hosts.require_allowed(site, field=name)
        except hosts.InvalidSiteUrl as exc:
            raise exceptions.HostNotAllowed(str(exc)) from None


def _first_use(token: VerifiedToken, payload: LifecyclePayload) -> bool:
    """Remember an install/uninstall token as used; False if it was already, with this same body.

    Called inside the callback's transaction, so a callback that fails leaves no record. A concurrent use of
    the same token waits on the unique index until this transaction ends, then finds the record.
    """
    now = timezone.now()
    InstallTokenUse.objects.filter(expires_at__lt=now).delete()
    expires_at = datetime.fromtimestamp(int(token.claims["exp"]), tz=UTC) + timedelta(seconds=conf.jwt_leeway)
    try:
        with transaction.atomic():
            InstallTokenUse.objects.create(
                token_digest=token.digest,
                body_digest=payload.body_digest,
                client_key=payload.client_key,
                expires_at=max(expires_at, now),
            )
    except IntegrityError:
        used = InstallTokenUse.objects.filter(token_digest=token.digest).first()
        if used is None:
            raise
        if used.body_digest != payload.body_digest:
            raise exceptions.ReplayedToken(
                "this signed install token was already accepted with another body: Jira signs each callback anew"
            ) from None
        logger.info(
            "%s retried with an accepted token, client_key=%r: answered as before",
            payload.event_type,
            payload.client_key,
        )
        return False
    return True


def _record(host: AtlassianHost, kind: LifecycleEvent.Kind, token: VerifiedToken, base_url: str) -> None:
    LifecycleEvent.objects.create(host=host, kind=kind, base_url=base_url, account_id=token.subject or "")


def installed(token: VerifiedToken, payload: LifecyclePayload) -> AtlassianHost:
    """Create the tenant, or update it and rotate its secret; the caller verified the RS256 token."""
    _require_issuer_is_client_key(token, payload)
    _require_allowed_host(payload)
    assert payload.shared_secret is not None  # parse() guarantees it for "installed"
    now = timezone.now()
    fields = {
        "base_url": payload.base_url,
        "display_url": payload.display_url,
        "product_type": payload.product_type,
        "description": payload.description,
        "oauth_client_id": payload.oauth_client_id,
        "service_entitlement_number": payload.service_entitlement_number,
        "installed": True,
        "enabled": True,
        "uninstalled_at": None,
    }
    with transaction.atomic():
        if not _first_use(token, payload):
            return AtlassianHost.objects.get(client_key=payload.client_key)
        host = _locked_host(payload.client_key)
        created = False
        if host is None:
            host, created = _create_or_lock(payload.client_key, fields, payload.shared_secret, now)
        rotated = not created and host.shared_secret != payload.shared_secret
        if created:
            kind = LifecycleEvent.Kind.INSTALLED
        else:
            kind = LifecycleEvent.Kind.SECRET_ROTATED if rotated else LifecycleEvent.Kind.REINSTALLED
            if not host.installed:
                host.installed_at = now
            for name, value in fields.items():
                setattr(host, name, value)
            if rotated:
                host.shared_secret = payload.shared_secret
                host.secret_rotated_at = now
            host.save()
        _record(host, kind, token, payload.base_url)
        if payload.installation_id:
            forge_installations.link_connect_install(host, payload.installation_id)
    signals.host_installed.send(AtlassianHost, host=host, rotated=rotated)
    logger.info("%s client_key=%r base_url=%s", kind.label, host.client_key, host.base_url)
    return host


def _locked_host(client_key: str) -> AtlassianHost | None:
    return AtlassianHost.objects.select_for_update().filter(client_key=client_key).first()


def _create_or_lock(client_key: str, fields: dict[str, Any], secret: Secret, now: Any) -> tuple[AtlassianHost, bool]:
    """Insert a new tenant; if a concurrent first install won the race, lock and return its row instead."""
    host = AtlassianHost(client_key=client_key, installed_at=now, secret_rotated_at=now, **fields)
    host.shared_secret = secret
    try:
        with transaction.atomic():
            host.save(force_insert=True)
    except IntegrityError:
        winner = _locked_host(client_key)
        if winner is None:
            raise
        return winner, False
    return host, True


def uninstalled(token: VerifiedToken, payload: LifecyclePayload) -> AtlassianHost | None:
    """Flag the tenant uninstalled, keeping its row so a reinstall finds its data; unknown tenants are a no-op."""
    _require_issuer_is_client_key(token, payload)
    with transaction.atomic():
        first_use = _first_use(token, payload)
        host = _locked_host(payload.client_key)
        if host is None or not first_use:
            if host is None:
                logger.info("uninstalled for unknown client_key=%r: nothing to do", payload.client_key)
            return host
        host.installed = False
        host.enabled = False
        host.uninstalled_at = host.uninstalled_at or timezone.now()
        host.save(update_fields=["installed", "enabled", "uninstalled_at", "updated_at"])
        _record(host, LifecycleEvent.Kind.UNINSTALLED, token, payload.base_url)
    signals.host_uninstalled.send(AtlassianHost, host=host)
    logger.info("uninstalled client_key=%r", host.client_key)
    return host


def set_enabled(host: AtlassianHost, token: VerifiedToken, payload: LifecyclePayload, *, enabled: bool) -> None:
    """Apply enabled/disabled (the middleware refuses them for an uninstalled tenant: its secret is revoked)."""
    _require_issuer_is_client_key(token, payload)
    with transaction.atomic():
        locked = _locked_host(host.client_key)
        assert locked is not None  # the middleware just loaded it, and tenant rows are never deleted
        locked.enabled = enabled
        locked.save(update_fields=["enabled", "updated_at"])
        kind = LifecycleEvent.Kind.ENABLED if enabled else LifecycleEvent.Kind.DISABLED
        _record(locked, kind, token, payload.base_url)
    (signals.host_enabled if enabled else signals.host_disabled).send(AtlassianHost, host=locked)
    logger.info("%s client_key=%r", kind.label, locked.client_key)
