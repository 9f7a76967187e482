"""Hostile lifecycle callbacks: forged installs (tokens, kids, bodies), uninstalls and disabled callbacks.

Each names the victim site; the verdict also checks that the victim still works and that nothing the
attacker sent (a secret, a key fetch) took hold.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from fake_jira import tokens
from fake_jira.conformance.core import (
    BAD_BODY,
    CONTEXT_FIX,
    FORGERY_FIXES,
    QSH_FIX,
    REFUSED,
    SIGNED_INSTALL_FIX,
    Case,
    CaseResult,
    Conformance,
    Skipped,
    Statuses,
    TokenMaker,
    allowed_for,
)
from fake_jira.descriptor import ConnectApp
from fake_jira.tokens import Forgery, TokenSpec

# Far past any real lifecycle payload (Jira's are under 2 kB).
_OVERSIZED_BODY_CHARS = 1_000_000

_INSTALL_FORGERIES = {
    "alg=none": Forgery.ALG_NONE,
    "HS256 keyed with the RSA public key": Forgery.HS256_WITH_PUBLIC_KEY,
    "unknown kid": Forgery.UNKNOWN_KID,
    "wrong aud": Forgery.WRONG_AUD,
    "iss not the body's clientKey": Forgery.WRONG_ISS,
    "expired": Forgery.EXPIRED,
    "no exp": Forgery.MISSING_EXP,
    "no qsh": Forgery.MISSING_QSH,
    "no iss": Forgery.MISSING_ISS,
    "qsh of another method": Forgery.QSH_OTHER_METHOD,
    "qsh of another path": Forgery.QSH_OTHER_PATH,
    "qsh of another query": Forgery.QSH_OTHER_QUERY,
    "context qsh": Forgery.CONTEXT_QSH,
    "tampered signature": Forgery.TAMPERED_SIGNATURE,
    "garbage token": Forgery.GARBAGE,
    "two-segment token": Forgery.TWO_SEGMENTS,
    "100 kB token": Forgery.OVERSIZED,
}


def _without(name: str) -> Callable[[dict[str, Any]], bytes]:
    return lambda body: json.dumps({key: value for key, value in body.items() if key != name}).encode()


_BAD_BODIES: dict[str, tuple[Callable[[dict[str, Any]], bytes], Statuses]] = {
    "invalid JSON": (lambda body: b"{not json", BAD_BODY),
    "JSON that is not an object": (lambda body: json.dumps([body]).encode(), BAD_BODY),
    "no clientKey": (_without("clientKey"), BAD_BODY),
    "no sharedSecret": (_without("sharedSecret"), BAD_BODY),
    "no baseUrl": (_without("baseUrl"), BAD_BODY),
    "1 MB body": (lambda body: json.dumps({**body, "description": "d" * _OVERSIZED_BODY_CHARS}).encode(), (400, 413)),
}


_KID_FIX = (
    "accept only a plain key id as kid (letters, digits, '.', '_', '-' between single '/', at most 256 "
    "characters) and refuse anything else before building the key URL from it"
)
# Kids that are not plain key ids. Those built from the real kid are the sharpest: an app that pastes them
# into the key URL unchecked may well fetch the real key and accept the install.
_KID_FORGERIES = {
    "missing": Forgery.MISSING_KID,
    "empty": Forgery.EMPTY_KID,
    "a number": Forgery.KID_NOT_STRING,
    "climbing out of the key service": Forgery.KID_PATH_TRAVERSAL,
    "a URL on another host": Forgery.KID_URL,
    "with a query and a fragment": Forgery.KID_QUERY,
    "with CR LF": Forgery.KID_CONTROL_CHARS,
    "of 2 kB": Forgery.KID_TOO_LONG,
}
_REAL_KID_VARIANTS: dict[str, Callable[[str], str]] = {
    "'..' segment back to the real kid": lambda kid: f"x/../{kid}",
    "leading '/'": lambda kid: f"/{kid}",
    "'//'": lambda kid: kid.replace("/", "//", 1),
    "'?' after the real kid": lambda kid: f"{kid}?x=1",
    "'#' after the real kid": lambda kid: f"{kid}#x",
    "'%'-encoded real kid": lambda kid: kid.replace("/", "%2F"),
    "'\\'": lambda kid: kid.replace("/", "\\", 1),
    "'@'": lambda kid: f"{kid}@127.0.0.1",
    "':'": lambda kid: f"{kid}:80",
    "tab": lambda kid: f"{kid}\t",
    "of 257 characters": lambda kid: (kid + "/" + "k" * 257)[:257],
}


def _forged(forgery: Forgery) -> TokenMaker:
    return lambda c, spec, attacker_secret: tokens.mint(spec, forgery)


def _with_kid(make_kid: Callable[[str], str]) -> TokenMaker:
    return lambda c, spec, attacker_secret: tokens.mint(replace(spec, kid=make_kid(str(spec.kid))))


def _no_token(c: Conformance, spec: TokenSpec, attacker_secret: str) -> None:
    return None


def _hs256_with_attackers_secret(c: Conformance, spec: TokenSpec, attacker_secret: str) -> str:
    return tokens.mint(replace(spec, algorithm="HS256", key=attacker_secret, kid=None))


def _hs256_with_tenants_secret(c: Conformance, spec: TokenSpec, attacker_secret: str) -> str:
    secret = c.victim.installation(c.app).shared_secret
    return tokens.mint(replace(spec, algorithm="HS256", key=secret, kid=None))


def _genuine_token_of_other_site(c: Conformance, spec: TokenSpec, attacker_secret: str) -> str:
    # What the owner of another site holds: a token Atlassian really signed, for their own clientKey.
    return tokens.mint(replace(spec, issuer=c.other.client_key))


def _other_sites_secret(c: Conformance, spec: TokenSpec, attacker_secret: str) -> str:
    return tokens.mint(replace(spec, key=c.other.installation(c.app).shared_secret))


def _hostile_callback(
    event: str, make_token: TokenMaker, how_to_fix: str, *, allowed: Statuses = REFUSED, fetch_allowed: bool = True
) -> Callable[[Conformance], CaseResult]:
    """A forged ``event`` callback naming the victim; an install carries an attacker's secret in its body.

    ``fetch_allowed=False`` marks the kid cases: a kid of an odd shape, on a token Atlassian's key really
    signed, is refused by a careful app before any fetch, but the protocol does not require it (hardening).
    """

    def run(c: Conformance) -> CaseResult:
        victim = c.victim
        attacker_secret = tokens.new_shared_secret()
        body_secret = attacker_secret if event == "installed" else None
        body = json.dumps(c.lifecycle_body(victim, event, body_secret)).encode()
        token = make_token(c, c.lifecycle_spec(victim, event), attacker_secret)
        fetches = len(c.key_fetches())
        response = c.post_lifecycle(event, body, token)
        return c.refused(
            response,
            allowed,
            how_to_fix,
            attacker_secret=body_secret,
            key_fetches_before=None if fetch_allowed else fetches,
            beyond_protocol=not fetch_allowed,
        )

    return run


def _bad_body(make_body: Callable[[dict[str, Any]], bytes], allowed: Statuses) -> Callable[[Conformance], CaseResult]:
    """A genuinely signed install of the victim whose body is wrong; it carries an attacker's secret unless the
    case removes it."""

    def run(c: Conformance) -> CaseResult:
        victim = c.victim
        attacker_secret = tokens.new_shared_secret()
        body = make_body(c.lifecycle_body(victim, "installed", attacker_secret))
        response = c.post_lifecycle("installed", body, tokens.mint(c.lifecycle_spec(victim, "installed")))
        how_to_fix = (
            "read the body strictly, capped in size: a JSON object with clientKey, sharedSecret and baseUrl strings"
        )
        return c.refused(response, allowed, how_to_fix, attacker_secret=attacker_secret)

    return run


def _install_cases() -> list[Case | Skipped]:
    return [
        Case(
            "hostile install no token",
            "refused: no token",
            _hostile_callback("installed", _no_token, SIGNED_INSTALL_FIX),
        ),
        Case(
            "hostile install HS256 with an attacker's secret",
            "refused: an install signed HS256 with the secret its body brings",
            _hostile_callback("installed", _hs256_with_attackers_secret, SIGNED_INSTALL_FIX),
        ),
        Case(
            "hostile install HS256 with the tenant's own secret",
            "refused: an install signed HS256 with the tenant's current sharedSecret",
            _hostile_callback("installed", _hs256_with_tenants_secret, SIGNED_INSTALL_FIX),
        ),
        Case(
            "hostile install genuine token of another site",
            "refused: another site's genuine signed install, its body naming the victim",
            _hostile_callback(
                "installed", _genuine_token_of_other_site, "check that the token's iss is the body's clientKey"
            ),
        ),
        *(
            Case(
                f"hostile install {label}",
                f"refused: {forgery.value}",
                _hostile_callback("installed", _forged(forgery), FORGERY_FIXES[forgery], allowed=allowed_for(forgery)),
            )
            for label, forgery in _INSTALL_FORGERIES.items()
        ),
        *(
            Case(
                f"hostile install kid {label}",
                f"refused before any key fetch: {forgery.value}",
                _hostile_callback("installed", _forged(forgery), _KID_FIX, fetch_allowed=False),
            )
            for label, forgery in _KID_FORGERIES.items()
        ),
        *(
            Case(
                f"hostile install kid {label}",
                "refused before any key fetch",
                _hostile_callback("installed", _with_kid(make_kid), _KID_FIX, fetch_allowed=False),
            )
            for label, make_kid in _REAL_KID_VARIANTS.items()
        ),
        *(
            Case(f"hostile install body {label}", "refused, the tenant unchanged", _bad_body(make_body, allowed))
            for label, (make_body, allowed) in _BAD_BODIES.items()
        ),
    ]


def _callback_cases(app: ConnectApp) -> list[Case | Skipped]:
    cases: list[Case | Skipped] = [
        Case(
            "hostile uninstall HS256 with the tenant's own secret",
            "refused: an uninstall signed HS256 with the tenant's sharedSecret; the tenant still works",
            _hostile_callback("uninstalled", _hs256_with_tenants_secret, SIGNED_INSTALL_FIX),
        ),
        Case(
            "hostile uninstall alg=none",
            f"refused: {Forgery.ALG_NONE.value}; the tenant still works",
            _hostile_callback("uninstalled", _forged(Forgery.ALG_NONE), FORGERY_FIXES[Forgery.ALG_NONE]),
        ),
        Case(
            "hostile uninstall genuine token of another site",
            "refused: another site's genuine signed uninstall, its body naming the victim",
            _hostile_callback(
                "uninstalled", _genuine_token_of_other_site, "check that the token's iss is the body's clientKey"
            ),
        ),
    ]
    if not app.lifecycle_url("disabled"):
        return [
            *cases,
            Skipped("hostile disabled: the descriptor declares no lifecycle.disabled", "declare lifecycle.disabled"),
        ]
    return [
        *cases,
        Case(
            "hostile disabled no token",
            "refused: no token; the tenant still works",
            _hostile_callback("disabled", _no_token, "require the tenant's JWT on disabled"),
        ),
        Case(
            "hostile disabled other site's secret",
            "refused: the victim's iss, signed with another site's sharedSecret",
            _hostile_callback("disabled", _other_sites_secret, FORGERY_FIXES[Forgery.OTHER_SITE_SECRET]),
        ),
        Case(
            "hostile disabled context token",
            f"refused: {Forgery.CONTEXT_QSH.value}",
            _hostile_callback("disabled", _forged(Forgery.CONTEXT_QSH), CONTEXT_FIX),
        ),
        Case(
            "hostile disabled qsh of another path",
            f"refused: {Forgery.QSH_OTHER_PATH.value}",
            _hostile_callback("disabled", _forged(Forgery.QSH_OTHER_PATH), QSH_FIX),
        ),
    ]


def cases(app: ConnectApp) -> list[Case | Skipped]:
    return [*_install_cases(), *_callback_cases(app)]
