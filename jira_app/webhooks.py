"""Webhook deliveries from a tenant, kept once per ``X-Atlassian-Webhook-Identifier`` (docs/protocol.md §6)."""

from __future__ import annotations

import logging
import re

from django.db.models import F

from jira_app import bodies, exceptions, signals
from jira_app.models import AtlassianHost, WebhookDelivery

logger = logging.getLogger(__name__)

MAX_WEBHOOK_BYTES = 1024 * 1024
MAX_IDENTIFIER_LENGTH = 255
# ASCII digits only: str.isdigit() also takes "²" or "٣", which int() then refuses.
_RETRY_COUNT = re.compile(r"[0-9]{1,6}")


def record_delivery(
    host: AtlassianHost, *, identifier: str, retry: str, content_type: str, body: bytes
) -> tuple[WebhookDelivery, bool]:
    """Store a delivery unless this identifier was seen before; returns (delivery, created).

    A delivery without an identifier is stored every time it arrives: it cannot be told from a retry.
    """
    if content_type != "application/json":
        raise exceptions.BadWebhookPayload(f"a webhook is JSON (Content-Type application/json), not {content_type!r}")
    if len(identifier) > MAX_IDENTIFIER_LENGTH or not identifier.isprintable():
        raise exceptions.BadWebhookPayload("the X-Atlassian-Webhook-Identifier header is too long or not text")
    if retry and not _RETRY_COUNT.fullmatch(retry):
        raise exceptions.BadWebhookPayload("the X-Atlassian-Webhook-Retry header is not a retry count")
    payload = bodies.json_object(body, max_bytes=MAX_WEBHOOK_BYTES, error=exceptions.BadWebhookPayload)
    event = payload.get("webhookEvent")
    delivery = WebhookDelivery(
        host=host,
        identifier=identifier,
        event=str(event)[:100] if event else "",
        payload=payload,
        retry_count=int(retry or 0),
    )
    if not WebhookDelivery.objects.add_unless_seen(delivery):
        # A retry of a delivery already kept: count it and keep the first copy.
        WebhookDelivery.objects.filter(host=host, identifier=identifier).update(duplicates=F("duplicates") + 1)
        logger.info("duplicate webhook %s from client_key=%r ignored", identifier, host.client_key)
        return WebhookDelivery.objects.get(host=host, identifier=identifier), False
    if not identifier:
        logger.warning(
            "webhook %s from client_key=%r has no X-Atlassian-Webhook-Identifier: stored, but a retry of it "
            "cannot be recognised and will be stored again (delivery id %s)",
            delivery.event or "(no webhookEvent)",
            host.client_key,
            delivery.pk,
        )
    signals.webhook_received.send(AtlassianHost, host=host, delivery=delivery)
    return delivery, True
