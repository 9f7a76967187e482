"""Fixtures shared by the whole suite: app settings for tests, the install-key service, a signing key."""

from __future__ import annotations

import ipaddress
import re
import socket

import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.cache import cache
from hypothesis import HealthCheck, Phase, settings

from tests import dependencies
from tests.signing import APP_BASE_URL, KEYS_URL, InstallSigner

# fake_jira's fixtures (fake_jira, jira_site, fake_jira_server) for every test in the project.
pytest_plugins = ["fake_jira.pytest_plugin"]

_LOOPBACK_NAMES = {"localhost", "testserver"}

# Property-based tests (tests/jira_app/test_fuzz.py): a bounded run by default, keeping the suite quick; the
# long one with `pytest --hypothesis-profile=long` (what `nox -s fuzz` runs). Examples of one test share its
# database transaction and function-scoped fixtures: each example checks the state it leaves, not a fresh one.
_FUZZ = {"deadline": None, "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]}
settings.register_profile("bounded", max_examples=25, **_FUZZ)
settings.register_profile("long", max_examples=2500, **_FUZZ)
# nox -s mutation: a failing example kills the mutant as it is; shrinking it would only spend the mutant's time
# limit (a mutant in the refusal path used to end as a timeout after minutes of shrinking).
settings.register_profile("mutation", max_examples=25, phases=[Phase.explicit, Phase.reuse, Phase.generate], **_FUZZ)
settings.load_profile("bounded")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "postgresql: needs PostgreSQL (row locks, several processes); deselected when the run uses SQLite"
    )


def pytest_collection_modifyitems(config, items):
    """A SQLite run leaves the PostgreSQL-only tests to `nox -s tests_postgres`: deselected, not skipped."""
    if dependencies.is_postgres_run():
        return
    deselected = [item for item in items if item.get_closest_marker("postgresql")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker("postgresql")]


def pytest_report_header(config):
    if not dependencies.is_postgres_run():
        return "database: SQLite; PostgreSQL-only tests are deselected (nox -s tests_postgres runs them)"
    return "database: PostgreSQL"


def _is_loopback(host: object) -> bool:
    if not isinstance(host, str):
        return False
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True, scope="session")
def _no_network():
    """No test ever touches the network: a name lookup or connection beyond loopback fails the test loudly."""
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect

    def getaddrinfo(host, *args, **kwargs):
        if host is not None and not _is_loopback(host):
            raise OSError(f"tests never touch the network: lookup of {host!r} blocked (mock it with responses)")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            raise OSError(f"tests never touch the network: connection to {address!r} blocked")
        return real_connect(sock, address)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket, "getaddrinfo", getaddrinfo)
        patch.setattr(socket.socket, "connect", connect)
        yield


@pytest.fixture(autouse=True)
def connect_settings(settings):
    """Every test runs the app at a known base URL, with its install keys at a known (mocked) URL."""
    settings.ATLASSIAN_CONNECT_BASE_URL = APP_BASE_URL
    settings.ATLASSIAN_CONNECT_INSTALL_KEYS_URL = KEYS_URL
    settings.ATLASSIAN_CONNECT_ALLOWED_HOSTS = []
    return settings


@pytest.fixture(autouse=True)
def _empty_cache():
    """The install-key cache lives in Django's cache: no key may leak from one test into the next."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def mocked_requests():
    """Outbound HTTP through `requests` is answered by `responses`; an unregistered call fails the test."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture(scope="session")
def atlassian_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def install_signer(atlassian_private_key, mocked_requests) -> InstallSigner:
    """Signs installs as Atlassian does, with its public key served at KEYS_URL/<kid>."""
    signer = InstallSigner(atlassian_private_key, kid="connect-install-keys/2026-11/primary")
    pem = atlassian_private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    def key_service(request):
        # Like Atlassian's service: the PEM for the one kid it knows, 404 for any other.
        known = request.url == f"{KEYS_URL}/{signer.kid}"
        return (200, {}, pem) if known else (404, {}, "not found")

    mocked_requests.add_callback(responses.GET, re.compile(re.escape(KEYS_URL) + "/.*"), callback=key_service)
    return signer
