"""Connect scopes: which of Jira's REST calls the ``scopes`` of an app's descriptor allow.

Jira refuses a call beyond them with 403, whatever the token. Each of READ, WRITE, DELETE, PROJECT_ADMIN and
ADMIN implies the ones before it; ACT_AS_USER stands apart. A descriptor without ``scopes`` allows only the
calls that need none (the app's own properties).
"""

from __future__ import annotations

from collections.abc import Iterable

from fake_jira.exceptions import Forbidden

# In order: each implies every scope before it.
LADDER = ("READ", "WRITE", "DELETE", "PROJECT_ADMIN", "ADMIN")
ACT_AS_USER = "ACT_AS_USER"


def granted(declared: Iterable[object]) -> frozenset[str]:
    """Every scope the declared ones amount to (DELETE brings WRITE and READ); unknown names are ignored."""
    names = {str(scope).upper() for scope in declared}
    top = max((LADDER.index(name) for name in names if name in LADDER), default=-1)
    return frozenset(LADDER[: top + 1]) | (names & {ACT_AS_USER})


def require(scope: str | None, scopes: frozenset[str], app_key: str) -> None:
    """Forbidden (403) unless ``scopes`` include ``scope`` (None: the call needs no scope)."""
    if scope is not None and scope not in scopes:
        declared = ", ".join(name for name in (*LADDER, ACT_AS_USER) if name in scopes) or "none"
        raise Forbidden(
            f"the app {app_key!r} may not make this call: it needs scope {scope}, and the app's descriptor grants "
            f"{declared}"
        )
