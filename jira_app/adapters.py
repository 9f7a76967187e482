"""The ``requests`` transport for calls to tenant sites: only public addresses, and a deadline for the whole call.

A tenant chooses its ``baseUrl``, and a host name that passed every check at install may resolve to anything
later (DNS rebinding). So the address is checked where it is used: ``SiteAdapter`` resolves the host itself,
refuses loopback, private, link-local and other non-public addresses, and has urllib3 connect to the address it
checked (keeping the host name for the ``Host`` header, SNI and the certificate check).

``requests`` timeouts bound each socket operation, not the call: a server sending one byte every few seconds
holds the worker for as long as it likes. ``Deadline`` bounds the call: when it expires it shuts the call's
socket down, which ends any read in progress.
"""

from __future__ import annotations

import contextlib
import contextvars
import ipaddress
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from jira_app.hosts import is_loopback

if TYPE_CHECKING:
    from requests.adapters import _HostParams, _PoolKwargs


class ForbiddenAddress(requests.ConnectionError):
    """The site's host resolves to an address the app never calls (loopback, private, link-local, ...)."""


class Deadline:
    """A time budget for one call; on expiry every socket the call used is shut down."""

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def start(self) -> None:
        self._timer.start()

    def cancel(self) -> None:
        self._timer.cancel()

    def watch(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed: nothing left to interrupt
        sock.shutdown(socket.SHUT_RDWR)


_current_deadline: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar("deadline", default=None)


@contextmanager
def deadline(seconds: float) -> Iterator[Deadline]:
    """Bound every call made through SiteAdapter inside the block to ``seconds`` in total."""
    budget = Deadline(seconds)
    token = _current_deadline.set(budget)
    budget.start()
    try:
        yield budget
    finally:
        budget.cancel()
        _current_deadline.reset(token)


class _WatchedConnectionMixin:
    sock: socket.socket | None

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        self._watch()

    def getresponse(self) -> Any:
        # A pooled connection was connected by an earlier call: it joins this call's deadline here.
        self._watch()
        return super().getresponse()  # type: ignore[misc]

    def _watch(self) -> None:
        budget = _current_deadline.get()
        if budget is not None:
            budget.watch(self.sock)


class _HTTPConnection(_WatchedConnectionMixin, HTTPConnection):
    pass


class _HTTPSConnection(_WatchedConnectionMixin, HTTPSConnection):
    pass


class _HTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)  # an IPv6 scope ("fe80::1%eth0") is part of the address since Python 3.9
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class SiteAdapter(HTTPAdapter):
    """Connects only to public addresses; loopback too when ``allow_loopback`` (fake_jira, development)."""

    def __init__(self, *, allow_loopback: bool = False) -> None:
        self.allow_loopback = allow_loopback
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPConnectionPool, "https": _HTTPSConnectionPool}

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: bool | str, cert: str | tuple[str, str] | None = None
    ) -> tuple[_HostParams, _PoolKwargs]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        host, port = host_params["host"], host_params["port"]
        address = self._checked_address(host, port or (443 if host_params["scheme"] == "https" else 80))
        # Connect to the address just checked, never to a second lookup's answer; the name stays for TLS.
        request.headers["Host"] = (f"[{host}]" if ":" in host else host) + (f":{port}" if port else "")
        if host_params["scheme"] == "https":
            tls = cast(dict[str, Any], pool_kwargs)  # urllib3's HTTPSConnectionPool takes both
            tls["server_hostname"] = host
            tls["assert_hostname"] = host
        host_params["host"] = address
        return host_params, pool_kwargs

    def _checked_address(self, host: str, port: int) -> str:
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise requests.ConnectionError(f"the host name did not resolve ({type(exc).__name__})") from exc
        addresses = [str(info[4][0]) for info in found]
        if self.allow_loopback and all(is_loopback(address) for address in addresses):
            return addresses[0]
        # Every address must be public, not just the first: the resolver's order is not ours to rely on.
        if not addresses or not all(_is_public(address) for address in addresses):
            raise ForbiddenAddress("the host resolves to an address that is not public")
        return addresses[0]
