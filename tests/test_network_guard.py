"""The suite's network guard (tests/conftest.py): loopback works, anything else fails loudly."""

from __future__ import annotations

import socket

import pytest
import requests


def test_a_lookup_beyond_loopback_is_blocked():
    with pytest.raises(OSError, match="never touch the network"):
        socket.getaddrinfo("connect-install-keys.atlassian.com", 443)


def test_a_connection_beyond_loopback_is_blocked():
    with pytest.raises(requests.ConnectionError, match="never touch the network"):
        requests.get("https://203.0.113.7/", timeout=1)


def test_loopback_is_allowed():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    try:
        client = socket.create_connection(server.getsockname(), timeout=1)
        client.close()
    finally:
        server.close()
