"""Signals sent after a lifecycle change or a new webhook is committed. Each sends ``host=AtlassianHost``."""

from __future__ import annotations

from django.dispatch import Signal

host_installed = Signal()  # also ``rotated: bool``: a reinstall replaced the sharedSecret
host_uninstalled = Signal()
host_enabled = Signal()
host_disabled = Signal()
webhook_received = Signal()  # also ``delivery: WebhookDelivery``; sent once per webhook identifier
