"""Fill a tenant store with extra tenants: ``python -m benchmarks.seed COUNT``, against DATABASE_URL.

Fast on purpose (100,000 rows in seconds): rows go in by bulk_create, and their encrypted secrets come from a
pool of a few ciphertexts. That is honest for what the rows are for, the cost of finding a tenant among many:
no request is ever signed for one of them, and Fernet gives each encryption a different ciphertext anyway.
"""

from __future__ import annotations

import os
import sys
import uuid

SECRET_POOL = 10
BATCH = 5000


def main(count: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
    import django

    django.setup()
    from django.db import transaction
    from django.utils import timezone

    from fake_jira.tokens import new_shared_secret
    from jira_app import crypto
    from jira_app.models import AtlassianHost

    ciphertexts = [crypto.encrypt(crypto.Secret(new_shared_secret())) for _ in range(SECRET_POOL)]
    now = timezone.now()
    hosts = [
        AtlassianHost(
            client_key=str(uuid.uuid4()),
            base_url=f"https://filler-{index}.atlassian.net",
            product_type="jira",
            encrypted_shared_secret=ciphertexts[index % SECRET_POOL],
            installed_at=now,
            secret_rotated_at=now,
        )
        for index in range(count)
    ]
    with transaction.atomic():
        AtlassianHost.objects.bulk_create(hosts, batch_size=BATCH)


if __name__ == "__main__":
    main(int(sys.argv[1]))
