"""The tenant store: one AtlassianHost per Jira site, its lifecycle history, and the webhooks it sent."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from django.db import connections, models
from django.utils import timezone

from jira_app import crypto

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper


class AtlassianHostManager(models.Manager["AtlassianHost"]):
    # What authenticating a request needs; the other fields load on first access.
    _AUTH_FIELDS = ("id", "client_key", "base_url", "display_url", "encrypted_shared_secret", "installed", "enabled")
    _sql_cache: ClassVar[dict[tuple[str, str], str]] = {}

    def for_authentication(self, client_key: str) -> AtlassianHost | None:
        """The tenant with ``client_key``, by one indexed lookup on the unique column, or None.

        Runs on every authenticated request, so it skips the ORM's query compilation and the conversion of
        fields it does not need: a fraction of the cost of ``get()`` (benchmarks/README.md).
        """
        connection = connections[self.db]
        with connection.cursor() as cursor:
            cursor.execute(self._authentication_sql(connection), [client_key])
            row = cursor.fetchone()
        if row is None:
            return None
        return self.model.from_db(self.db, list(self._AUTH_FIELDS), row)

    def _authentication_sql(self, connection: BaseDatabaseWrapper) -> str:
        # Built once per model and database vendor (quoting is the vendor's), not on every request.
        meta = self.model._meta
        key = (meta.label, connection.vendor)
        sql = self._sql_cache.get(key)
        if sql is None:

            def column(name: str) -> str:
                field = meta.get_field(name)
                assert isinstance(field, models.Field)
                return connection.ops.quote_name(field.column)

            columns = ", ".join(column(name) for name in self._AUTH_FIELDS)
            table = connection.ops.quote_name(meta.db_table)
            sql = f"SELECT {columns} FROM {table} WHERE {column('client_key')} = %s"  # noqa: S608  # names from _meta
            self._sql_cache[key] = sql
        return sql


class AtlassianHost(models.Model):
    """A Jira Cloud site that installed the app (ACE calls it a client, Spring Boot an AtlassianHost)."""

    client_key = models.CharField(max_length=255, unique=True, help_text="The site's clientKey: the iss of its JWTs.")
    base_url = models.URLField(max_length=255, help_text="Where the site's REST API lives; updated on every install.")
    display_url = models.URLField(max_length=255, blank=True)
    product_type = models.CharField(max_length=50, blank=True)
    description = models.TextField(blank=True)
    oauth_client_id = models.CharField(max_length=255, blank=True)
    service_entitlement_number = models.CharField(max_length=255, blank=True)
    # Fernet ciphertext of the sharedSecret (Atlassian: opaque, up to 400 bytes); see jira_app.crypto.
    encrypted_shared_secret = models.TextField(editable=False)
    secret_rotated_at = models.DateTimeField(default=timezone.now)
    installed = models.BooleanField(default=True)
    enabled = models.BooleanField(default=True)
    installed_at = models.DateTimeField(default=timezone.now)
    uninstalled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AtlassianHostManager()

    class Meta:
        verbose_name = "Atlassian host"

    def __str__(self) -> str:
        return f"{self.base_url} ({self.client_key})"

    @property
    def is_active(self) -> bool:
        """Installed and enabled: only then are its tokens accepted on the app's routes."""
        return self.installed and self.enabled

    @property
    def shared_secret(self) -> crypto.Secret:
        return crypto.decrypt(self.encrypted_shared_secret)

    @shared_secret.setter
    def shared_secret(self, secret: crypto.Secret) -> None:
        self.encrypted_shared_secret = crypto.encrypt(secret)


class LifecycleEvent(models.Model):
    """An append-only record of every verified lifecycle callback. It never holds the secret."""

    class Kind(models.TextChoices):
        INSTALLED = "installed"
        SECRET_ROTATED = "secret_rotated", "reinstalled, secret rotated"
        REINSTALLED = "reinstalled", "reinstalled, same secret"
        UNINSTALLED = "uninstalled"
        ENABLED = "enabled"
        DISABLED = "disabled"

    host = models.ForeignKey(AtlassianHost, on_delete=models.PROTECT, related_name="lifecycle_events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    base_url = models.URLField(max_length=255, help_text="The site's baseUrl as the callback reported it.")
    account_id = models.CharField(max_length=128, blank=True, help_text="The user behind the action, if known.")
    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} at {self.occurred_at:%Y-%m-%d %H:%M:%S}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise TypeError("LifecycleEvent is append-only: a recorded event is never changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise TypeError("LifecycleEvent is append-only: a recorded event is never deleted.")


class WebhookDeliveryManager(models.Manager["WebhookDelivery"]):
    _sql_cache: ClassVar[dict[tuple[str, str], str]] = {}

    def add_unless_seen(self, delivery: WebhookDelivery) -> bool:
        """Insert ``delivery`` unless its host sent its identifier before; True, and its pk set, if inserted.

        One statement, ``INSERT … ON CONFLICT DO NOTHING RETURNING id``: a repeated identifier is no error, so
        no transaction is needed to catch one. On SQLite an atomic block takes the write lock (BEGIN IMMEDIATE)
        before the ORM's work and holds it through the commit's fsync, and every other worker's write waits;
        this takes it for the statement alone, and skips the ORM's query compilation (benchmarks/README.md).
        No pre_save or post_save is sent: ``jira_app.signals.webhook_received`` is the hook for a new delivery.
        """
        connection = connections[self.db]
        fields = [field for field in self.model._meta.concrete_fields if not field.primary_key]
        values = [field.get_db_prep_save(field.pre_save(delivery, add=True), connection) for field in fields]
        with connection.cursor() as cursor:
            cursor.execute(self._insert_sql(connection, fields), values)
            row = cursor.fetchone()
        if row is None:
            return False
        delivery.pk = row[0]
        delivery._state.adding, delivery._state.db = False, self.db
        return True

    def _insert_sql(self, connection: BaseDatabaseWrapper, fields: list[models.Field[Any, Any]]) -> str:
        # Built once per database vendor, as the tenant lookup's.
        key = (self.model._meta.label, connection.vendor)
        sql = self._sql_cache.get(key)
        if sql is None:
            quote = connection.ops.quote_name
            columns = ", ".join(quote(field.column) for field in fields)
            placeholders = ", ".join(["%s"] * len(fields))
            table, pk = quote(self.model._meta.db_table), quote(self.model._meta.pk.column)
            sql = f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) ON CONFLICT DO NOTHING RETURNING {pk}"  # noqa: S608
            self._sql_cache[key] = sql
        return sql


class WebhookDelivery(models.Model):
    """A webhook received from a site, kept once per X-Atlassian-Webhook-Identifier (every time, without one)."""

    host = models.ForeignKey(AtlassianHost, on_delete=models.CASCADE, related_name="webhook_deliveries")
    identifier = models.CharField(
        max_length=255,
        blank=True,
        help_text="X-Atlassian-Webhook-Identifier: stable across retries; empty when Jira sent none.",
    )
    event = models.CharField(max_length=100, help_text="The payload's webhookEvent, e.g. jira:issue_created.")
    payload = models.JSONField()
    retry_count = models.PositiveIntegerField(default=0, help_text="X-Atlassian-Webhook-Retry of the kept copy.")
    duplicates = models.PositiveIntegerField(default=0, help_text="Retries received after the first copy.")
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = WebhookDeliveryManager()

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["host", "identifier"],
                condition=~models.Q(identifier=""),
                name="jira_app_webhook_unique_per_host",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.identifier}"


class ForgeInstallation(models.Model):
    """An installation of the Forge app (Connect modules on Forge, with Forge Remote), by its installationId.

    Linked to the Connect tenant of the same site when the Connect install named the installation, or when a
    verified Forge call names the tenant's site (docs/forge.md). Never holds a token.
    """

    installation_id = models.CharField(max_length=255, unique=True, help_text="ari:cloud:ecosystem::installation/…")
    host = models.ForeignKey(
        AtlassianHost, on_delete=models.PROTECT, null=True, blank=True, related_name="forge_installations"
    )
    cloud_id = models.CharField(max_length=64, blank=True)
    api_base_url = models.URLField(max_length=512, blank=True, help_text="Where Forge calls reach the site's APIs.")
    environment_id = models.CharField(max_length=255, blank=True)
    environment_type = models.CharField(max_length=50, blank=True)
    app_version = models.CharField(max_length=50, blank=True)
    installed_at = models.DateTimeField(null=True, blank=True)
    upgraded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.installation_id


class ForgeLifecycleEvent(models.Model):
    """One Forge lifecycle trigger, kept once however often Forge retries it (up to 4 retries)."""

    class Kind(models.TextChoices):
        INSTALLED = "avi:forge:installed:app", "installed"
        UPGRADED = "avi:forge:upgraded:app", "upgraded"

    installation = models.ForeignKey(ForgeInstallation, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=40, choices=Kind.choices)
    app_version = models.CharField(max_length=50, blank=True)
    account_id = models.CharField(max_length=128, blank=True, help_text="Who installed or upgraded, if known.")
    deliveries = models.PositiveIntegerField(default=1, help_text="How many times Forge delivered it.")
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["installation", "kind", "app_version"], name="jira_app_forge_event_once_per_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.app_version}"


class UsedInvocationToken(models.Model):
    """The jti of every Forge Invocation Token accepted, until it expires: a token is good for one call."""

    jti_sha256 = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"jti sha256 {self.jti_sha256[:12]}… until {self.expires_at:%Y-%m-%d %H:%M:%S}"


class InstallTokenUse(models.Model):
    """An Atlassian-signed install or uninstall token that was accepted, kept until it expires.

    A token is accepted once, for one body: a retry with the same body (Jira resending after a lost response)
    gets the same answer without being applied again, and the same token with any other body is refused, in
    every process. The token itself is not kept, only digests: a token is no secret once used, but needs none.
    """

    token_digest = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the compact token (hex).")
    body_digest = models.CharField(max_length=64, help_text="SHA-256 of the request body it was accepted with.")
    client_key = models.CharField(max_length=255, help_text="The token's iss.")
    expires_at = models.DateTimeField(db_index=True, help_text="The token's exp plus the leeway: deleted after.")
    used_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-used_at", "-id"]

    def __str__(self) -> str:
        return f"install token {self.token_digest[:12]} for {self.client_key}"
