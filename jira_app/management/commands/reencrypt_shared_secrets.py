"""``manage.py reencrypt_shared_secrets``: step two of an encryption-key rotation (docs/deploy.md)."""

from __future__ import annotations

from typing import Any

from cryptography.fernet import InvalidToken
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from jira_app import crypto
from jira_app.models import AtlassianHost


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored sharedSecret with the first key of ATLASSIAN_CONNECT_ENCRYPTION_KEYS, "
        "so the older keys can then be dropped."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        pks = list(AtlassianHost.objects.order_by("pk").values_list("pk", flat=True))
        for done, pk in enumerate(pks):
            # One row lock at a time: a reinstall arriving meanwhile is neither blocked long nor overwritten.
            with transaction.atomic():
                host = AtlassianHost.objects.select_for_update().get(pk=pk)
                try:
                    host.encrypted_shared_secret = crypto.reencrypt(host.encrypted_shared_secret)
                except InvalidToken:
                    raise CommandError(
                        f"The sharedSecret of client_key={host.client_key!r} cannot be decrypted with any key in "
                        "ATLASSIAN_CONNECT_ENCRYPTION_KEYS: add the key it was encrypted with after the new first "
                        f"key, then run this command again ({done} of {len(pks)} re-encrypted so far, kept)."
                    ) from None
                host.save(update_fields=["encrypted_shared_secret"])
        self.stdout.write(f"Re-encrypted {len(pks)} shared secrets with the first key.")
