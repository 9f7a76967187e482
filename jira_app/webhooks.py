"""Webhook deliveries from a tenant, kept once per ``X-Atlassian-Webhook-Identifier`` (docs/protocol.md §6)."""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.db.models import F

from jira_app import bodies, exceptions, signals
from jira_app.models import AtlassianHost, WebhookDelivery

logger = logging.getLogger(__name__)

MAX_WEBHOOK_BYTES = 1024 * 1024


def record_delivery(host: AtlassianHost, *, identifier: str, retry: str, body: bytes) -> tuple[WebhookDelivery, bool]:
    """Store a delivery unless this identifier was seen before; returns (delivery, created)."""
    if not identifier or len(identifier) > 255:
        raise exceptions.BadWebhookPayload("the X-Atlassian-Webhook-Identifier header is missing or too long")
    payload = bodies.json_object(body, max_bytes=MAX_WEBHOOK_BYTES, error=exceptions.BadWebhookPayload)
    event = payload.get("webhookEvent")
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(
                host=host,
                identifier=identifier,
                event=str(event)[:100] if event else "",
                payload=payload,
                retry_count=int(retry) if retry.isdigit() and len(retry) <= 6 else 0,
            )
    except IntegrityError:
        # A retry of a delivery already kept: count it and keep the first copy.
        WebhookDelivery.objects.filter(host=host, identifier=identifier).update(duplicates=F("duplicates") + 1)
        logger.info("duplicate webhook %s from client_key=%r ignored", identifier, host.client_key)
        return WebhookDelivery.objects.get(host=host, identifier=identifier), False
    signals.webhook_received.send(AtlassianHost, host=host, delivery=delivery)
    return delivery, True
