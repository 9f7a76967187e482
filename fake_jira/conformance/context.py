"""The context endpoint (``--context-path``): what the app's page calls with ``AP.context.getToken()`` tokens.

No descriptor names it, so these cases run only when the user says where it is.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from fake_jira.conformance.core import (
    FORGERY_FIXES,
    PAGE_OK,
    QSH_FIX,
    Case,
    CaseResult,
    Conformance,
    Sender,
    Skipped,
    accepts,
    json_field,
    refuses,
)
from fake_jira.descriptor import ConnectApp
from fake_jira.messages import Response
from fake_jira.sites import JiraSite
from fake_jira.tokens import Forgery


def _forged_context_call(forgery: Forgery, *, qsh_bound: bool) -> Sender:
    return lambda c: c.context_call(c.victim, forgery=forgery, qsh_bound=qsh_bound)


def _context_tenants(c: Conformance) -> CaseResult:
    """Each tenant's token is answered for that tenant, even when a parameter names another one."""
    victim, other = c.victim, c.other
    xdm_e = urlencode({"xdm_e": victim.base_url})
    calls: list[tuple[JiraSite, str, Callable[[], Response]]] = [
        (victim, "the victim's context token", lambda: c.context_call(victim)),
        (other, "the other site's context token", lambda: c.context_call(other)),
        (
            other,
            "the other site's token, xdm_e naming the victim",
            lambda: c.context_call(other, query=xdm_e, qsh_bound=True),
        ),
    ]
    for site, label, send in calls:
        response = send()
        # An endpoint that does not report a clientKey is judged by its status alone.
        client_key = json_field(response, "clientKey")
        if response.status != 200 or client_key not in (None, site.client_key):
            return CaseResult(
                False,
                f"{label}: 200 with its own clientKey",
                f"{label}: {response.status}, clientKey {client_key!r}",
                "choose the tenant by the token's iss alone, never by xdm_e or another parameter",
            )
    return CaseResult(True, "200 for each tenant", "200, each tenant its own clientKey")


def cases(app: ConnectApp) -> list[Case | Skipped]:
    bound = {
        "token bound to another path": Forgery.QSH_OTHER_PATH,
        "token bound to another query": Forgery.QSH_OTHER_QUERY,
        "token bound to another method": Forgery.QSH_OTHER_METHOD,
    }
    context_tokens = {
        "context token without qsh": Forgery.MISSING_QSH,
        "expired context token": Forgery.EXPIRED,
        "context token signed with another site's secret": Forgery.OTHER_SITE_SECRET,
        "context token of an unknown iss": Forgery.WRONG_ISS,
        "context token alg=none": Forgery.ALG_NONE,
        "tampered context token": Forgery.TAMPERED_SIGNATURE,
    }
    return [
        accepts(
            "context endpoint context token",
            "a context token (qsh 'context-qsh') is accepted",
            "context endpoint",
            lambda c: c.context_call(c.victim),
            PAGE_OK,
            "accept qsh 'context-qsh' on the routes AP.context.getToken() calls",
        ),
        accepts(
            "context endpoint anonymous",
            "a context token without sub (a logged-out viewer) is accepted",
            "context endpoint",
            lambda c: c.context_call(c.victim, anonymous=True),
            PAGE_OK,
            "accept a token without sub: a public issue is seen by logged-out users, and Jira signs no user then",
        ),
        accepts(
            "context endpoint request-bound token",
            "a token bound to exactly this request is accepted",
            "context endpoint",
            lambda c: c.context_call(c.victim, qsh_bound=True),
            PAGE_OK,
            QSH_FIX,
        ),
        Case(
            "context endpoint tenant isolation",
            "each tenant's token is answered for that tenant, whatever xdm_e says",
            _context_tenants,
        ),
        refuses(
            "context endpoint no token",
            "a call without a token is refused",
            lambda c: c.send("GET", c.app.target(c.context_target())),
            "require a JWT on the context endpoint",
        ),
        *(
            refuses(
                f"context endpoint {label}",
                f"refused: {forgery.value}",
                _forged_context_call(forgery, qsh_bound=True),
                QSH_FIX,
            )
            for label, forgery in bound.items()
        ),
        *(
            refuses(
                f"context endpoint {label}",
                f"refused: {forgery.value}",
                _forged_context_call(forgery, qsh_bound=False),
                FORGERY_FIXES[forgery],
            )
            for label, forgery in context_tokens.items()
        ),
    ]
