"""Every route fuzzed through Django's test client: structured and mutated tokens, headers, query strings and
bodies, from strangers, from an installed site, and signed by Atlassian.

Whatever arrives, the app answers below 500, a refusal (4xx) leaves the stored state as it was, and no log line
carries a secret. The bounded profile runs with the suite; `nox -s fuzz` runs the long one (tests/conftest.py)
on SQLite and PostgreSQL. Each example runs in a transaction rolled back at its end, so that every example
meets the same installed victim and a failure replays exactly.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives import serialization
from django.db import transaction
from hypothesis import event, given
from hypothesis import strategies as st
from jwt.algorithms import get_default_algorithms

from jira_app import qsh
from jira_app.models import (
    AtlassianHost,
    ForgeInstallation,
    ForgeLifecycleEvent,
    InstallTokenUse,
    LifecycleEvent,
    UsedInvocationToken,
    WebhookDelivery,
)
from tests.signing import APP_BASE_URL, APP_KEY, Site, host_token

pytestmark = pytest.mark.django_db

ROUTES = {
    "/jira/atlassian-connect.json": "GET",
    "/jira/installed": "POST",
    "/jira/uninstalled": "POST",
    "/jira/enabled": "POST",
    "/jira/disabled": "POST",
    "/jira/hello.html": "GET",
    "/jira/api/whoami": "GET",
    "/jira/webhooks/issue-created": "POST",
    # Forge Remote: a stranger's token under any scheme, Bearer included, reaches the invocation-token check.
    "/jira/forge/lifecycle": "POST",
    "/jira/forge/api/projects": "GET",
}
TENANT_ROUTES = [
    "/jira/enabled",
    "/jira/disabled",
    "/jira/hello.html",
    "/jira/api/whoami",
    "/jira/webhooks/issue-created",
]
INSTALL_ROUTES = ["/jira/installed", "/jira/uninstalled"]
# sharedSecrets the fuzzed install bodies carry: none may ever reach a log line.
SECRETS = [f"ATCO-fuzzed-secret-{n}-{'0123456789abcdef' * 3}" for n in range(4)]
HS256, RS256 = get_default_algorithms()["HS256"], get_default_algorithms()["RS256"]
BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."

# --- Strategies -------------------------------------------------------------------------------------------

# Characters that broke parsers, databases or logs before: lone surrogates, NUL, line breaks, astral and
# full-width characters (qsh ordering), percent and separators.
ODD = ["\ud800", "\udfff", "\x00", "\n", "\r", "\u2028", "😀", "\uff5e", "%", "&", "=", ",", ".", "+", "²", "\\"]
odd_text = st.lists(st.one_of(st.text(max_size=6), st.sampled_from(ODD)), max_size=6).map("".join)
json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    odd_text,
    # What no JSON column stores, often enough to reach every view that stores JSON.
    st.sampled_from([math.nan, math.inf, -math.inf, "\ud800", "\x00", "a\udfffb", "\x00\x00"]),
)
json_values = st.recursive(
    json_leaves,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(odd_text, children, max_size=4),
    max_leaves=12,
)
# A JSON object holding a value nested 1 to 5,000 levels deep.
deep_json = st.tuples(st.integers(1, 5000), st.sampled_from(["[]", "{}"])).map(
    lambda case: (
        '{"webhookEvent": "x", "a": '
        + (('{"a":' * case[0] + "1" + "}" * case[0]) if case[1] == "{}" else "[" * case[0] + "]" * case[0])
        + "}"
    )
)
# JSON text as the app may receive it: well formed (NaN and lone surrogates included), deep, or cut short.
json_texts = st.one_of(
    st.dictionaries(odd_text, json_values, min_size=1, max_size=5).map(json.dumps),
    json_values.map(json.dumps),
    deep_json,
    st.tuples(json_values.map(json.dumps), st.integers(0, 40)).map(lambda case: case[0][: case[1]]),
)
bodies = st.one_of(
    json_texts.map(str.encode),
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda text: text.encode("utf-8", "surrogatepass")),
)
ascii_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30)
# Query strings as a browser or a script may send them: encoded pairs of odd text, or raw printable ASCII.
query_strings = st.one_of(
    st.lists(st.tuples(odd_text, odd_text), max_size=5).map(
        lambda pairs: "&".join(
            f"{quote(n.encode('utf-8', 'surrogatepass'))}={quote(v.encode('utf-8', 'surrogatepass'))}" for n, v in pairs
        )
    ),
    ascii_text.map(lambda text: text.replace("#", "")),
)
content_types = st.one_of(
    st.sampled_from(["application/json", "application/x-www-form-urlencoded", "text/plain", "multipart/form-data"]),
    ascii_text,
)
# Header values travel as latin-1 text.
header_values = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=30)
times = st.one_of(
    st.integers(-(2**70), 2**70),
    st.integers(-1000, 1000).map(lambda delta: int(time.time()) + delta),
    st.floats(allow_nan=True, allow_infinity=True),
    odd_text,
)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


@st.composite
def structured_tokens(draw, victim: Site, signer, path: str, method: str) -> str:
    """A token built claim by claim: each claim right, wrong, missing or hostile; signed many ways."""
    header = draw(
        st.fixed_dictionaries(
            {"alg": st.sampled_from(["HS256", "RS256", "none", "HS512", ""]) | odd_text},
            optional={"kid": st.just(signer.kid) | odd_text | json_values, "typ": st.just("JWT")},
        )
    )
    claims = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "iss": st.sampled_from([victim.client_key, "nobody-installed-me"]) | odd_text | json_values,
                "iat": times,
                "exp": times,
                "qsh": st.sampled_from([qsh.query_string_hash(method, path), qsh.CONTEXT_QSH]) | odd_text,
                "aud": st.sampled_from([[APP_BASE_URL], APP_BASE_URL, [APP_BASE_URL, "https://other.example"]])
                | json_values,
                "sub": odd_text,
                "context": json_values,
            },
        )
    )
    header_json = draw(st.just(json.dumps(header)) | json_texts)
    claims_json = draw(st.just(json.dumps(claims)) | json_texts)
    signing_input = (
        f"{b64(header_json.encode('utf-8', 'surrogatepass'))}.{b64(claims_json.encode('utf-8', 'surrogatepass'))}"
    )
    signer_kind = draw(st.sampled_from(["victim", "attacker", "atlassian", "none", "garbage"]))
    if signer_kind == "victim":
        signature = HS256.sign(signing_input.encode(), HS256.prepare_key(victim.secret))
    elif signer_kind == "attacker":
        signature = HS256.sign(signing_input.encode(), HS256.prepare_key(SECRETS[0]))
    elif signer_kind == "atlassian":
        signature = RS256.sign(signing_input.encode(), signer.private_key)
    elif signer_kind == "none":
        signature = b""
    else:
        signature = draw(st.binary(max_size=64))
    return f"{signing_input}.{b64(signature)}"


@st.composite
def mutated(draw, token: str) -> str:
    """A genuine token with a few characters replaced, inserted or deleted, or its segments shuffled."""
    if draw(st.booleans()):
        segments = token.split(".")
        return ".".join(draw(st.lists(st.sampled_from(segments), max_size=5)))
    chars = list(token)
    alphabet = st.sampled_from(BASE64URL + "=/+ \t%")
    for _ in range(draw(st.integers(1, 4))):
        index = draw(st.integers(0, len(chars)))
        operation = draw(st.sampled_from(["replace", "insert", "delete"]))
        if operation == "insert" or index == len(chars):
            chars.insert(index, draw(alphabet))
        elif operation == "replace":
            chars[index] = draw(alphabet)
        else:
            del chars[index]
    return "".join(chars)


@st.composite
def lifecycle_bodies(draw, site: Site, event: str) -> bytes:
    """A lifecycle body with some fields right, some odd, some missing, some added; or not a body at all."""
    if draw(st.integers(0, 4)) == 0:
        return draw(bodies)
    overrides = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "clientKey": st.sampled_from([site.client_key, "newcomer"]) | odd_text | json_values,
                "baseUrl": st.sampled_from([site.base_url, "https://acme.atlassian.net/", "http://[::1", ""])
                | odd_text,
                "displayUrl": odd_text,
                "sharedSecret": st.sampled_from(SECRETS) | st.sampled_from(SECRETS).map(lambda s: s + "\ud800"),
                "key": st.sampled_from([APP_KEY, "another-app"]) | odd_text,
                "eventType": st.sampled_from([event, "installed", "uninstalled"]) | odd_text,
                "description": odd_text | json_values,
                "extra": json_values,
            },
        )
    )
    body: dict[str, Any] = json.loads(site.lifecycle_body(event))
    body["sharedSecret"] = SECRETS[1]
    for name, value in overrides.items():
        body[name] = value
    for name in draw(st.lists(st.sampled_from(sorted(body)), max_size=2)):
        body.pop(name, None)
    return dumps(body)


# --- Checks -----------------------------------------------------------------------------------------------


def stored_state() -> tuple:
    return (
        list(AtlassianHost.objects.order_by("id").values()),
        list(LifecycleEvent.objects.order_by("id").values_list("id", flat=True)),
        list(WebhookDelivery.objects.order_by("id").values_list("id", "duplicates")),
        list(InstallTokenUse.objects.order_by("id").values_list("id", flat=True)),
        list(ForgeInstallation.objects.order_by("id").values()),
        list(ForgeLifecycleEvent.objects.order_by("id").values_list("id", "deliveries")),
        list(UsedInvocationToken.objects.order_by("id").values_list("id", flat=True)),
    )


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextmanager
def rolled_back() -> Iterator[None]:
    """Run one example in a transaction undone at its end: the next example starts from the same state."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


@contextmanager
def captured_logs() -> Iterator[list[str]]:
    handler = _Lines()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler.lines
    finally:
        root.removeHandler(handler)


def secrets_of(victim: Site, signer) -> list[str]:
    pem = signer.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    stored = [host.shared_secret.reveal() for host in AtlassianHost.objects.all()]
    return [victim.secret, *SECRETS, *stored, pem.splitlines()[1]]


def exchange(client, victim, signer, method, path, *, query="", body=b"", content_type="", headers=None):
    """Send one request; check it answered below 500, changed nothing if refused, and logged no secret."""
    before = stored_state()
    with captured_logs() as lines:
        response = client.generic(
            method, f"{path}?{query}" if query else path, body, content_type or "application/octet-stream",
            **(headers or {}),
        )  # fmt: skip
    event(f"{path} answered {response.status_code}")  # the spread, in --hypothesis-show-statistics
    assert response.status_code < 500, response.content[:500]
    if response.status_code >= 400:
        assert stored_state() == before, f"{method} {path} was refused with {response.status_code}, yet changed"
    logged = "\n".join(lines)
    for secret in secrets_of(victim, signer):
        assert secret not in logged
    return response


def token_headers(data, token: str, query: str) -> tuple[dict[str, str], str]:
    """Carry the token in the Authorization header (scheme varied), in the jwt query parameter, or both."""
    where = data.draw(st.sampled_from(["header", "query", "both", "neither"]))
    headers = {}
    if where in ("header", "both"):
        scheme = data.draw(st.sampled_from(["JWT ", "jwt ", "Bearer ", "JWT  ", ""]))
        headers["HTTP_AUTHORIZATION"] = scheme + token
    if where in ("query", "both"):
        query = f"{query}&jwt={quote(token)}" if query else f"jwt={quote(token)}"
    return headers, query


def webhook_headers(data) -> dict[str, str]:
    headers = {}
    for name in ("HTTP_X_ATLASSIAN_WEBHOOK_IDENTIFIER", "HTTP_X_ATLASSIAN_WEBHOOK_RETRY"):
        value = data.draw(st.none() | st.sampled_from(["0", "1", "wh-1", ""]) | header_values | st.just("²"))
        if value is not None:
            headers[name] = value
    return headers


# --- The fuzz tests ---------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def forge_remote(settings):
    """Forge Remote switched on, its key set on a closed loopback port: a token's kid is never found there, so
    every Forge request goes through the token checks that come before the signature, and none leaves loopback."""
    settings.ATLASSIAN_FORGE_APP_ID = "ari:cloud:ecosystem::app/3f0c2b9e-5d1a-4c6b-9a27-1e8d4f7a6b05"
    settings.ATLASSIAN_FORGE_JWKS_URL = "http://127.0.0.1:9/.well-known/jwks.json"


@pytest.fixture
def victim(jira) -> Site:
    site = Site("victim")
    assert jira.installed(site).status_code == 204
    return site


@given(data=st.data())
def test_any_token_from_a_stranger(client, victim, install_signer, data):
    path = data.draw(st.sampled_from(sorted(ROUTES)), label="path")
    method = data.draw(st.just(ROUTES[path]) | st.sampled_from(["GET", "POST", "PUT", "DELETE"]), label="method")
    if path in INSTALL_ROUTES:
        genuine = install_signer.token(victim.client_key, path)
    else:
        genuine = host_token(victim.client_key, victim.secret, method, path)
    token = data.draw(structured_tokens(victim, install_signer, path, method) | mutated(genuine), label="token")
    query = data.draw(query_strings, label="query")
    headers, query = token_headers(data, token, query)
    headers.update(webhook_headers(data))
    body = data.draw(bodies | lifecycle_bodies(victim, path.rsplit("/", 1)[1]), label="body")

    with rolled_back():
        exchange(
            client, victim, install_signer, method, path,
            query=query, body=body, content_type=data.draw(st.just("application/json") | content_types),
            headers=headers,
        )  # fmt: skip


@given(data=st.data())
def test_any_request_signed_by_an_installed_site(client, victim, install_signer, data):
    path = data.draw(st.sampled_from(TENANT_ROUTES), label="path")
    method = data.draw(st.just(ROUTES[path]) | st.sampled_from(["GET", "POST", "PUT"]), label="method")
    query = data.draw(query_strings, label="query")
    # Signed with the site's secret, bound to this request: authenticated, whatever else is odd about it.
    claims = data.draw(
        st.just({}) | st.fixed_dictionaries({}, optional={"sub": odd_text, "context": json_values, "aud": odd_text}),
        label="extra claims",
    )
    token = host_token(victim.client_key, victim.secret, method, path, query, **claims)
    if data.draw(st.booleans(), label="token in the header"):
        headers = {"HTTP_AUTHORIZATION": f"JWT {token}"}
    else:
        headers, query = {}, f"{query}&jwt={token}" if query else f"jwt={token}"
    headers.update(webhook_headers(data))
    event = path.rsplit("/", 1)[1]
    body = data.draw(bodies | lifecycle_bodies(victim, event), label="body")

    with rolled_back():
        exchange(
            client, victim, install_signer, method, path,
            query=query, body=body, content_type=data.draw(st.just("application/json") | content_types),
            headers=headers,
        )  # fmt: skip


@given(data=st.data())
def test_any_install_signed_by_atlassian(client, victim, install_signer, data):
    path = data.draw(st.sampled_from(INSTALL_ROUTES), label="path")
    event = path.rsplit("/", 1)[1]
    claims = data.draw(
        st.fixed_dictionaries(
            {},
            optional={
                "iss": st.sampled_from([victim.client_key, "newcomer"]) | odd_text,
                "aud": st.sampled_from([[APP_BASE_URL], [APP_BASE_URL, "https://other.example"], "https://x.example"]),
                "iat": times,
                "exp": times,
                "qsh": st.sampled_from([qsh.query_string_hash("POST", "/jira/installed"), qsh.CONTEXT_QSH]) | odd_text,
            },
        ),
        label="claims",
    )
    token = install_signer.token(victim.client_key, path, **claims)
    body = data.draw(lifecycle_bodies(victim, event), label="body")
    # The same token again, with the same body (Jira retrying) or another (a replay).
    again = data.draw(st.just(body) | lifecycle_bodies(victim, event), label="second body")

    with rolled_back():
        answers = [
            exchange(
                client, victim, install_signer, "POST", path,
                body=sent, content_type="application/json", headers={"HTTP_AUTHORIZATION": f"JWT {token}"},
            ).status_code
            for sent in (body, again)
        ]  # fmt: skip
        if answers[0] < 300 and again == body:
            assert answers[1] == answers[0]
        elif answers[0] < 300:
            assert answers[1] in (400, 401)  # a body that is bad in itself is a 400 before the replay is seen
