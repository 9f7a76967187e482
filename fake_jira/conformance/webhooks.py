"""Webhook deliveries: Jira's signed POST is accepted, a forged one refused."""

from __future__ import annotations

from fake_jira.conformance.core import (
    DELIVERED,
    FORGERY_FIXES,
    REQUEST_FORGERIES,
    Case,
    Sender,
    Skipped,
    accepts,
    allowed_for,
    refuses,
)
from fake_jira.descriptor import ConnectApp
from fake_jira.tokens import Forgery


def _forged_webhook(forgery: Forgery) -> Sender:
    return lambda c: c.webhook(c.victim, forgery)


def cases(app: ConnectApp) -> list[Case | Skipped]:
    return [
        accepts(
            "webhook",
            "Jira's signed webhook delivery is accepted",
            "webhook",
            lambda c: c.webhook(c.victim),
            DELIVERED,
            "accept a webhook whose token is bound to the POST",
        ),
        refuses(
            "webhook no token",
            "a webhook without a token is refused",
            lambda c: c.unsigned_webhook(),
            "require a JWT on every webhook",
        ),
        *(
            refuses(
                f"webhook {label}",
                f"refused: {forgery.value}",
                _forged_webhook(forgery),
                FORGERY_FIXES[forgery],
                allowed_for(forgery),
            )
            for label, forgery in REQUEST_FORGERIES.items()
        ),
    ]
