"""Forge installations: recorded from lifecycle triggers, from the Connect install, or from any verified call.

Three ways a site's Forge installation becomes known, all idempotent:

- the ``avi:forge:installed:app`` / ``avi:forge:upgraded:app`` trigger, which Forge retries up to 4 times and
  gives 5 s each (one short transaction, no outbound call);
- the Connect ``installed`` callback of a Connect-on-Forge app, whose body carries ``installationId``: this
  links the installation to the Connect tenant;
- any verified Forge call (``resolve``): a site upgraded from Connect to Forge without a trigger reaching the
  app is recorded from the token it carries, and linked to the tenant whose baseUrl is its ``siteUrl``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from jira_app import bodies, exceptions
from jira_app.forge import INSTALLATION_ARI, ForgeInvocation
from jira_app.models import AtlassianHost, ForgeInstallation, ForgeLifecycleEvent

logger = logging.getLogger(__name__)

MAX_TRIGGER_BYTES = 16 * 1024


class BadTrigger(exceptions.ConnectError):
    status = 400
    reason = "bad_trigger"


@dataclass(frozen=True)
class LifecycleTrigger:
    """The body of a Forge lifecycle event; trusted only as far as it matches the verified token."""

    kind: ForgeLifecycleEvent.Kind
    installation_id: str
    app_version: str
    account_id: str

    @classmethod
    def parse(cls, body: bytes) -> LifecycleTrigger:
        data = bodies.json_object(body, max_bytes=MAX_TRIGGER_BYTES, error=BadTrigger)
        event_type = data.get("eventType")
        if event_type not in ForgeLifecycleEvent.Kind.values:
            raise BadTrigger(f"eventType must be one of {ForgeLifecycleEvent.Kind.values}")
        installation_id = data.get("id")
        if not isinstance(installation_id, str) or not INSTALLATION_ARI.fullmatch(installation_id):
            raise BadTrigger("'id' is not an installation ARI")
        app = data.get("app")
        version = app.get("version", "") if isinstance(app, dict) else ""
        account = data.get("installerAccountId") or data.get("upgraderAccountId") or ""
        if not isinstance(version, str) or len(version) > 50 or not isinstance(account, str) or len(account) > 128:
            raise BadTrigger("'app.version' or the account id is not a short string")
        return cls(ForgeLifecycleEvent.Kind(event_type), installation_id, version, account)


def _upsert(invocation: ForgeInvocation) -> ForgeInstallation:
    """The installation the token speaks for, created or brought up to date from it (row locked)."""
    fields = {
        "cloud_id": invocation.cloud_id,
        "api_base_url": invocation.api_base_url,
        "environment_id": invocation.environment_id,
        "environment_type": invocation.environment_type,
    }
    fields = {name: value for name, value in fields.items() if value}
    # get_or_create survives a concurrent first call: it retries the get when the insert loses the race.
    installation, _ = ForgeInstallation.objects.select_for_update().get_or_create(
        installation_id=invocation.installation_id, defaults=fields
    )
    changed = [name for name, value in fields.items() if getattr(installation, name) != value]
    for name in changed:
        setattr(installation, name, fields[name])
    if installation.host_id is None and invocation.site_url:
        installation.host = (
            AtlassianHost.objects.filter(base_url=invocation.site_url, installed=True).order_by("-installed_at").first()
        )
        if installation.host is not None:
            changed.append("host")
    if changed:
        installation.save(update_fields=[*changed, "updated_at"])
    return installation


def record_trigger(invocation: ForgeInvocation, trigger: LifecycleTrigger) -> ForgeInstallation:
    """Record an install or upgrade once per installation, kind and version; retries only count deliveries."""
    if trigger.installation_id != invocation.installation_id:
        # The body is not signed: it must name the installation the token was issued for.
        raise BadTrigger("the body's 'id' is not the token's app.installationId")
    now = timezone.now()
    with transaction.atomic():
        installation = _upsert(invocation)
        event, created = ForgeLifecycleEvent.objects.get_or_create(
            installation=installation,
            kind=trigger.kind,
            app_version=trigger.app_version,
            defaults={"account_id": trigger.account_id, "received_at": now},
        )
        if not created:
            ForgeLifecycleEvent.objects.filter(pk=event.pk).update(deliveries=F("deliveries") + 1)
            return installation
        stamp = "installed_at" if trigger.kind is ForgeLifecycleEvent.Kind.INSTALLED else "upgraded_at"
        setattr(installation, stamp, now)
        installation.app_version = trigger.app_version
        installation.save(update_fields=[stamp, "app_version", "updated_at"])
    logger.info(
        "forge %s installation_id=%r version=%r", trigger.kind.label, installation.installation_id, trigger.app_version
    )
    return installation


def resolve(invocation: ForgeInvocation) -> ForgeInstallation:
    """The installation of a verified call, whether or not a trigger or Connect install announced it."""
    with transaction.atomic():
        return _upsert(invocation)


def link_connect_install(host: AtlassianHost, installation_id: str) -> None:
    """Tie the Forge installation a Connect ``installed`` body names to its tenant (call inside its transaction)."""
    installation, _ = ForgeInstallation.objects.select_for_update().get_or_create(installation_id=installation_id)
    if installation.host_id != host.pk:
        installation.host = host
        installation.save(update_fields=["host", "updated_at"])
