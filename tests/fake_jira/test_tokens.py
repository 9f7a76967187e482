from __future__ import annotations

import ast
import base64
import hashlib
import hmac
import re
import time
from pathlib import Path

import jwt
import pytest
from atlassian_jwt.url_utils import hash_url

import fake_jira
from fake_jira import tokens
from fake_jira.exceptions import FakeJiraError
from fake_jira.keys import InstallKeyService
from fake_jira.tokens import CONTEXT_QSH, Forgery, QshTarget, TokenSpec
from tests.vectors import load_qsh_vectors

VECTORS = load_qsh_vectors()
REQUEST_VECTORS = [v for v in VECTORS if v["kind"] == "request"]
HASH_ONLY_VECTORS = [v for v in VECTORS if v["kind"] == "hash-only"]

APP_BASE_URL = "https://app.example.test/base"
CLIENT_KEY = "6c0a1d8e-4d1b-4cf0-9d3a-5b7e2f1c9a10"
SECRET = "ATCO-the-sites-current-secret-long-enough-for-hs256"
SUBJECT = "5b10ac8d82e05b22cc7d4ef5"


@pytest.mark.parametrize("vector", REQUEST_VECTORS, ids=lambda v: v["id"])
def test_canonical_request_reproduces_every_vector(vector):
    args = (vector["method"], vector["path"], vector["query"])
    options = {"base_path": vector["base_path"], "form": vector["form"]}

    assert tokens.canonical_request(*args, **options) == vector["canonical"]
    assert tokens.query_string_hash(*args, **options) == vector["qsh"]


@pytest.mark.parametrize("vector", HASH_ONLY_VECTORS, ids=lambda v: v["id"])
def test_hash_of_a_canonical_string(vector):
    assert tokens.sha256_hex(vector["canonical"]) == vector["qsh"]


def test_vectors_include_the_java_only_probes():
    assert {v["id"] for v in REQUEST_VECTORS} >= {"probe-foo-double-slash", "probe-unicode-key-order"}


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_the_oracle_and_the_whole_package_stay_independent_of_the_app():
    package = Path(fake_jira.__file__).parent
    imports = {path.name: _imports(path) for path in package.glob("*.py")}

    assert not [name for name, found in imports.items() if found & {"jira_app", "mysite"}]
    assert [name for name, found in imports.items() if "django" in found] == ["transports.py"]
    assert not imports["tokens.py"] & {"atlassian_jwt"}


def _install_spec(key):
    target = QshTarget("POST", "/base/installed", "", "/base")
    return TokenSpec("RS256", key.private_key, CLIENT_KEY, SUBJECT, target, audience=(APP_BASE_URL,), kid=key.kid)


def _page_spec(_key):
    return TokenSpec("HS256", SECRET, CLIENT_KEY, SUBJECT, QshTarget("GET", "/base/hello", "a=1&b=2", "/base"))


def _context_spec(_key):
    return TokenSpec("HS256", SECRET, CLIENT_KEY, SUBJECT, CONTEXT_QSH, tokens.CONTEXT_TOKEN_SECONDS)


SPECS = {"install": _install_spec, "page": _page_spec, "context": _context_spec}
_KID = re.compile(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*")


@pytest.fixture(scope="module")
def install_key():
    return InstallKeyService().current


def strict_verify(token, spec, install_key):
    """An app's checks, independent of fake_jira: every honest token passes, every forgery fails."""
    if len(token) > 8192:
        raise ValueError("oversized")
    header = jwt.get_unverified_header(token)
    required = {"require": ["exp", "iat", "iss", "qsh"]}
    if spec.algorithm == "RS256":
        kid = header.get("kid")
        if not isinstance(kid, str) or len(kid) > 256 or not _KID.fullmatch(kid) or ".." in kid.split("/"):
            raise ValueError("bad kid")
        if kid != install_key.kid:
            raise ValueError("unknown kid")
        claims = jwt.decode(
            token, install_key.public_pem, algorithms=["RS256"], audience=APP_BASE_URL, options=required
        )
        expected_qsh = hash_url("POST", "/installed")
    else:
        claims = jwt.decode(token, SECRET, algorithms=["HS256"], options=required)
        expected_qsh = CONTEXT_QSH if spec.qsh == CONTEXT_QSH else hash_url("GET", "/hello?a=1&b=2")
    if claims["iss"] != CLIENT_KEY or claims["qsh"] != expected_qsh:
        raise ValueError("iss or qsh")
    return header, claims


@pytest.mark.parametrize("kind", SPECS)
def test_honest_tokens_carry_jiras_claims(kind, install_key):
    spec = SPECS[kind](install_key)

    header, claims = strict_verify(tokens.mint(spec), spec, install_key)

    assert header["alg"] == spec.algorithm
    assert claims["sub"] == SUBJECT
    assert claims["exp"] - claims["iat"] == (900 if kind == "context" else 180)
    assert abs(claims["iat"] - time.time()) < 5
    if kind == "install":
        assert header["kid"] == install_key.kid
        assert claims["aud"] == [APP_BASE_URL]


@pytest.mark.parametrize("forgery", Forgery, ids=lambda f: f.name)
@pytest.mark.parametrize("kind", SPECS)
def test_every_forgery_is_refused_by_a_strict_app_or_refused_to_be_made(kind, forgery, install_key):
    spec = SPECS[kind](install_key)
    if not forgery.applies_to(spec):
        with pytest.raises(FakeJiraError, match=forgery.name):
            tokens.mint(spec, forgery)
        return

    token = tokens.mint(spec, forgery, substitute_secret="ATCO-a-secret-rotated-away-long-enough-for-hs256")

    with pytest.raises((ValueError, jwt.PyJWTError)):
        strict_verify(token, spec, install_key)


def test_forgeries_have_the_shape_their_name_promises(install_key):
    spec = _install_spec(install_key)

    assert jwt.get_unverified_header(tokens.mint(spec, Forgery.ALG_NONE))["alg"] == "none"
    assert tokens.mint(spec, Forgery.TWO_SEGMENTS).count(".") == 1
    assert len(tokens.mint(spec, Forgery.OVERSIZED)) > 100_000
    assert "kid" not in jwt.get_unverified_header(tokens.mint(spec, Forgery.MISSING_KID))
    confused = tokens.mint(spec, Forgery.HS256_WITH_PUBLIC_KEY)
    # The algorithm-confusion attack: HMAC keyed with the served PEM, which anyone can fetch.
    assert jwt.get_unverified_header(confused) == {"typ": "JWT", "alg": "HS256", "kid": install_key.kid}
    signing_input, _, signature = confused.rpartition(".")
    mac = hmac.new(install_key.public_pem.encode(), signing_input.encode(), hashlib.sha256).digest()
    assert signature == base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    expired = jwt.decode(tokens.mint(spec, Forgery.EXPIRED), options={"verify_signature": False})
    assert expired["exp"] < time.time() - 600


def test_previous_secret_forgery_needs_the_secret_it_names():
    with pytest.raises(FakeJiraError, match="substitute_secret"):
        tokens.mint(_page_spec(None), Forgery.PREVIOUS_SECRET)


def test_shared_secrets_look_like_jiras():
    first, second = tokens.new_shared_secret(), tokens.new_shared_secret()

    assert first.startswith("ATCO")
    assert len(first) > 60
    assert first != second
