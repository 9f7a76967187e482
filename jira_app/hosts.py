"""A tenant site's URLs (``baseUrl``, ``displayUrl``): parsed once, checked, and rebuilt from the parsed parts.

The install body is not covered by the install token's signature, so a tenant chooses these URLs freely, and
the app later sends signed requests to ``baseUrl`` (jira_app.client) and names ``baseUrl`` and ``displayUrl`` as
the origins allowed to frame its pages (jira_app.framing). The check and the request must read a URL the same
way: ``http://127.0.0.1:19620\\@x.atlassian.net`` is ``x.atlassian.net`` to ``urllib.parse`` and ``127.0.0.1``
to ``requests``. So this module parses with urllib3's ``parse_url``, the parser ``requests`` itself prepares
URLs with, and everything downstream uses the URL rebuilt from the parts checked here.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from dataclasses import dataclass

from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from jira_app.conf import conf

# Printable ASCII without space: a Jira Cloud site URL is plain ASCII, and anything else (a control character,
# a backslash, a quote) only serves to make two parsers disagree or to inject into a header or a log line.
_URL_CHARACTERS = frozenset(chr(code) for code in range(0x21, 0x7F)) - set("\\\"'<>^`{|}")
_LOOPBACK_NAMES = frozenset({"localhost"})
# A host name as DNS spells it (RFC 1123 labels): urllib3 lets ";", "," and "_" through, and a ";" in a host
# would end the CSP directive that names it (jira_app.framing).
_HOST_NAME = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)(?:\.(?!-)[a-z0-9-]{1,63}(?<!-))*")


class InvalidSiteUrl(ValueError):
    """A site URL the app will not store or call; the message says why and repeats no part of the URL."""


@dataclass(frozen=True)
class SiteUrl:
    """A checked site URL: ``scheme://host[:port][/path]``, no userinfo, query or fragment."""

    scheme: str
    host: str  # lower case; an IPv6 address keeps its brackets, as in the URL
    port: int | None
    path: str  # "" or "/wiki"-like: no trailing slash

    @property
    def origin(self) -> str:
        """``scheme://host[:port]``, the form a CSP source list and an ``Origin`` header use."""
        return f"{self.scheme}://{self.host}" + (f":{self.port}" if self.port is not None else "")

    @property
    def url(self) -> str:
        return self.origin + self.path

    def __str__(self) -> str:
        return self.url


def parse(value: object, *, field: str = "baseUrl") -> SiteUrl:
    """Parse and check a site URL as received; raises InvalidSiteUrl naming ``field`` and what is wrong."""
    if not isinstance(value, str) or not value:
        raise InvalidSiteUrl(f"'{field}' is not a URL")
    if not set(value) <= _URL_CHARACTERS:
        raise InvalidSiteUrl(f"'{field}' holds a character a site URL never has (space, control, backslash, ...)")
    try:
        parts = parse_url(value)
    except LocationParseError:
        raise InvalidSiteUrl(f"'{field}' is not a valid URL (bad host or port)") from None
    if parts.scheme not in ("https", "http") or not parts.host:
        raise InvalidSiteUrl(f"'{field}' is not an absolute https URL")
    if parts.auth is not None or "@" in value:  # no site path holds "@" either: refusing it ends the question
        raise InvalidSiteUrl(f"'{field}' holds a user name or password")
    if parts.query is not None or parts.fragment is not None:
        raise InvalidSiteUrl(f"'{field}' has a query or fragment")
    if parts.port == 0:
        raise InvalidSiteUrl(f"'{field}' has port 0")
    host = parts.host.lower()
    if host.endswith("."):
        raise InvalidSiteUrl(f"'{field}' ends its host name with a dot")
    if not (host.startswith("[") or _HOST_NAME.fullmatch(host)):
        raise InvalidSiteUrl(f"'{field}' has a host that is not a DNS name")
    site = SiteUrl(parts.scheme, host, parts.port, (parts.path or "").rstrip("/"))
    loopback = is_loopback(site.host)
    if site.scheme != "https" and not (loopback and conf.allow_loopback_sites):
        raise InvalidSiteUrl(f"'{field}' is not https")
    if _is_ip_literal(site.host) and not (loopback and conf.allow_loopback_sites):
        # A named host is checked again on the address it resolves to, at connect time (jira_app.adapters).
        raise InvalidSiteUrl(f"'{field}' names an IP address, not a Jira Cloud site")
    return site


def require_allowed(site: SiteUrl, *, field: str = "baseUrl") -> None:
    """Raise InvalidSiteUrl unless the host matches ATLASSIAN_CONNECT_ALLOWED_HOSTS (empty: any host)."""
    patterns = conf.allowed_hosts
    if patterns and not any(fnmatch.fnmatchcase(site.host, pattern.lower()) for pattern in patterns):
        raise InvalidSiteUrl(f"'{field}' host {site.host!r} is not in ATLASSIAN_CONNECT_ALLOWED_HOSTS")


def is_loopback(host: str) -> bool:
    """Whether ``host`` (as in a URL: IPv6 in brackets) is ``localhost`` or a loopback address literal."""
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _is_ip_literal(host: str) -> bool:
    # A numeric last label is no DNS name: the resolver reads 2130706433 or 0x7f.1 as an IPv4 address (inet_aton).
    last_label = host.rsplit(".", 1)[-1]
    return host.startswith("[") or last_label.isdigit() or last_label.startswith("0x")
