"""Page loads, as Jira's iframe makes them: accepted with every query Jira signs, refused when forged."""

from __future__ import annotations

from fake_jira.conformance.core import (
    FORGERY_FIXES,
    PAGE_OK,
    QSH_FIX,
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

# Queries Jira signs as they are: each must be canonicalised exactly as Jira does for its token to verify.
_AWKWARD_QUERIES = {
    "spaces as '+'": "q=two+words",
    "spaces as %20": "q=two%20words",
    "a literal '+' as %2B": "q=1%2B1%3D2",
    "'*' and '~', raw and encoded": "star=a*b&tilde=~x%7Ey",
    "UTF-8 text": "name=%C3%A9t%C3%A9%20%E2%9C%93",
    "repeated names out of order": "b=2&a=z&b=10&a=y&b=1",
    "empty values": "empty=&also=",
    "a name without '='": "flag&x=1",
    "names differing only by case": "Key=1&key=2&KEY=3",
    "encoded '&', '=' and ',' in a value": "v=a%26b%3Dc%2Cd",
    "reserved characters left raw": "p=a:b/c?d@e!f$g'h(i)j",
    "';' in a value": "s=a;b",
}


def _forged_page(forgery: Forgery) -> Sender:
    return lambda c: c.page(c.victim, forgery)


def _awkward_page(query: str) -> Sender:
    return lambda c: c.page_request(c.victim, extra_query=query)


def cases(app: ConnectApp) -> list[Case | Skipped]:
    return [
        accepts("page load", "Jira's page load is answered", "page", lambda c: c.page(c.victim), PAGE_OK, QSH_FIX),
        accepts(
            "page anonymous",
            "Jira's page load for a logged-out viewer (a token without sub) is answered",
            "page",
            lambda c: c.page(c.victim, anonymous=True),
            PAGE_OK,
            "accept a token without sub: a public issue is seen by logged-out users, and Jira signs no user then",
        ),
        *(
            accepts(
                f"qsh {label}",
                f"Jira's token for a page URL with {label} is accepted",
                "page",
                _awkward_page(query),
                PAGE_OK,
                QSH_FIX,
            )
            for label, query in _AWKWARD_QUERIES.items()
        ),
        accepts(
            "qsh jwt parameter first",
            "Jira's token is accepted wherever 'jwt' stands in the query",
            "page",
            lambda c: c.page_request(c.victim, jwt_first=True),
            PAGE_OK,
            QSH_FIX,
        ),
        refuses(
            "page no token",
            "a page load without a token is refused",
            lambda c: c.page_request(c.victim, signed=False),
            "require a JWT on every page",
        ),
        *(
            refuses(
                f"page {label}",
                f"refused: {forgery.value}",
                _forged_page(forgery),
                FORGERY_FIXES[forgery],
                allowed_for(forgery),
            )
            for label, forgery in REQUEST_FORGERIES.items()
        ),
    ]
