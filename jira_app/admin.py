"""Read-only admin for tenants, their lifecycle history and webhooks. The secret is never shown."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest

from jira_app.models import AtlassianHost, ForgeInstallation, ForgeLifecycleEvent, LifecycleEvent, WebhookDelivery

# Fields no admin query may name: a filter on ciphertext is an oracle that reads it out a character at a time.
SECRET_FIELDS = frozenset({"encrypted_shared_secret"})


def _touches_secret(path: str) -> bool:
    return any(part in SECRET_FIELDS for part in path.split(LOOKUP_SEP))


class ReadOnlyMixin:
    """Tenants change only through verified lifecycle callbacks, never by hand; secrets are never queried."""

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        # Django allows any lookup on the model's own fields from the query string (?field__regex=...).
        return not _touches_secret(lookup) and super().lookup_allowed(lookup, value, request)  # type: ignore[misc]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class LifecycleEventInline(ReadOnlyMixin, admin.TabularInline[LifecycleEvent, AtlassianHost]):
    model = LifecycleEvent
    fields = ("occurred_at", "kind", "base_url", "account_id")
    readonly_fields = fields
    extra = 0


@admin.register(AtlassianHost)
class AtlassianHostAdmin(ReadOnlyMixin, admin.ModelAdmin[AtlassianHost]):
    list_display = (
        "client_key",
        "base_url",
        "product_type",
        "installed",
        "enabled",
        "secret_rotated_at",
        "updated_at",
    )
    list_filter = ("installed", "enabled", "product_type")
    search_fields = ("client_key", "base_url", "display_url")
    # encrypted_shared_secret is deliberately absent: the admin shows when the secret rotated, never its value.
    fields = (
        "client_key", "base_url", "display_url", "product_type", "description", "oauth_client_id",
        "service_entitlement_number", "installed", "enabled", "installed_at", "uninstalled_at",
        "secret_rotated_at", "created_at", "updated_at",
    )  # fmt: skip
    readonly_fields = fields
    inlines = [LifecycleEventInline]


@admin.register(LifecycleEvent)
class LifecycleEventAdmin(ReadOnlyMixin, admin.ModelAdmin[LifecycleEvent]):
    list_display = ("occurred_at", "kind", "host", "base_url", "account_id")
    list_filter = ("kind",)
    search_fields = ("host__client_key", "base_url")
    readonly_fields = ("host", "kind", "base_url", "account_id", "occurred_at")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyMixin, admin.ModelAdmin[WebhookDelivery]):
    list_display = ("received_at", "event", "host", "identifier", "retry_count", "duplicates")
    list_filter = ("event",)
    search_fields = ("identifier", "host__client_key")
    readonly_fields = ("host", "identifier", "event", "payload", "retry_count", "duplicates", "received_at")


class ForgeLifecycleEventInline(ReadOnlyMixin, admin.TabularInline[ForgeLifecycleEvent, ForgeInstallation]):
    model = ForgeLifecycleEvent
    fields = ("received_at", "kind", "app_version", "account_id", "deliveries")
    readonly_fields = fields
    extra = 0


@admin.register(ForgeInstallation)
class ForgeInstallationAdmin(ReadOnlyMixin, admin.ModelAdmin[ForgeInstallation]):
    """Forge installations and the Connect tenant each belongs to (docs/forge.md); they hold no token."""

    list_display = ("installation_id", "host", "cloud_id", "app_version", "installed_at", "upgraded_at")
    search_fields = ("installation_id", "cloud_id", "host__client_key", "host__base_url")
    fields = (
        "installation_id", "host", "cloud_id", "api_base_url", "environment_type", "environment_id",
        "app_version", "installed_at", "upgraded_at", "created_at", "updated_at",
    )  # fmt: skip
    readonly_fields = fields
    inlines = [ForgeLifecycleEventInline]
