"""Fill a tenant store with extra tenants: ``python -m benchmarks.seed COUNT SECRETS_FILE``, against DATABASE_URL.

Fast on purpose (100,000 rows in seconds): rows go in by bulk_create, each with a secret of its own, encrypted
as the app encrypts it. Their keys and secrets go to SECRETS_FILE (``client_key<TAB>secret`` lines, in the run's
temporary directory), so the memory run can sign a request for each of them: nobody installed them through the
lifecycle route, but the app looks them up and decrypts their secrets as it does for any tenant.
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

BATCH = 5000


def main(count: int, secrets_file: Path) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
    import django

    django.setup()
    from django.db import transaction
    from django.utils import timezone

    from fake_jira.tokens import new_shared_secret
    from jira_app import crypto
    from jira_app.models import AtlassianHost

    now = timezone.now()
    secrets = [(str(uuid.uuid4()), new_shared_secret()) for _ in range(count)]
    hosts = [
        AtlassianHost(
            client_key=client_key,
            base_url=f"https://filler-{index}.atlassian.net",
            product_type="jira",
            encrypted_shared_secret=crypto.encrypt(crypto.Secret(secret)),
            installed_at=now,
            secret_rotated_at=now,
        )
        for index, (client_key, secret) in enumerate(secrets)
    ]
    with transaction.atomic():
        AtlassianHost.objects.bulk_create(hosts, batch_size=BATCH)
    with secrets_file.open("w", encoding="utf-8") as out:
        out.writelines(f"{client_key}\t{secret}\n" for client_key, secret in secrets)


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]))
