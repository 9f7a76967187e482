"""`python -m fake_jira check` against this app over real HTTP: it passes, and its cases fail when the app (or
its settings) breaks the behaviour they check.

The app runs in pytest-django's live server, a thread of this process, so monkeypatching jira_app breaks the
running app. Its calls to the check's install-key service and sites go over loopback HTTP: the `fake_jira`
fixture (`responses`) is not active here, on purpose.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import http.client
import io
import json
import re
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qsl, quote

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from django.http import JsonResponse

from fake_jira.__main__ import main
from fake_jira.conformance import ForgeRemote, Report, run_conformance
from jira_app import authentication, descriptor, exceptions, install_keys, lifecycle, qsh, tokens, views, webhooks
from jira_app.conf import conf
from jira_app.crypto import Secret
from jira_app.decorators import AuthPolicy
from jira_app.models import AtlassianHost
from tests.e2e.conftest import FORGE_APP_ID

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
CONTEXT_PATH = "/jira/api/whoami"
SUMMARY = re.compile(r"(\d+) passed, (\d+) failed")


def run_check(
    descriptor_url: str, keys_port: int, *, strict: bool = False, forge: bool = False
) -> tuple[Report, list[str]]:
    out = io.StringIO()
    report = run_conformance(
        descriptor_url,
        keys_port=keys_port,
        context_path=CONTEXT_PATH,
        strict=strict,
        forge=ForgeRemote(FORGE_APP_ID) if forge else None,
        out=out,
    )
    return report, out.getvalue().splitlines()


def test_the_check_passes_against_this_app_with_every_group(descriptor_url, keys_port):
    report, lines = run_check(descriptor_url, keys_port, strict=True, forge=True)

    assert report.failed == 0, "\n".join(line for line in lines if not line.startswith("✓"))
    assert lines[:2] == [
        f"install-key service: http://127.0.0.1:{keys_port}/install-keys",
        f"forge jwks: http://127.0.0.1:{keys_port}/forge/.well-known/jwks.json",
    ]
    assert re.fullmatch(r"clean-up: uninstalled the app from the \d+ sites the check installed", lines[-3])
    assert lines[-2:] == [
        "0 warnings, 0 hardening notes",
        f"{report.passed} passed, 0 failed",
    ]
    assert len(report.outcomes) == report.passed == len(lines) - 5 > 100
    assert report.skipped == []
    assert AtlassianHost.objects.exists()
    assert not AtlassianHost.objects.filter(installed=True).exists()


# --- Breakages: each (monkeypatch, settings) -> None breaks the running app in one way ----------------------


def qsh_not_checked(monkeypatch, settings):
    monkeypatch.setattr(qsh, "matches", lambda claimed, expected: True)


def context_tokens_accepted_everywhere(monkeypatch, settings):
    real = tokens.verify_host_token
    monkeypatch.setattr(
        tokens, "verify_host_token", lambda token, secret, **kw: real(token, secret, **{**kw, "allow_context": True})
    )


def context_tokens_refused_everywhere(monkeypatch, settings):
    real = tokens.verify_host_token
    monkeypatch.setattr(
        tokens, "verify_host_token", lambda token, secret, **kw: real(token, secret, **{**kw, "allow_context": False})
    )


def aud_not_checked(monkeypatch, settings):
    real = tokens._decode
    monkeypatch.setattr(
        tokens,
        "_decode",
        lambda token, key, alg, *, leeway, audience: real(token, key, alg, leeway=leeway, audience=None),
    )


def install_token_not_verified(monkeypatch, settings):
    monkeypatch.setattr(
        tokens, "verify_install_token", lambda token, public_key, **kw: tokens.VerifiedToken(token.claims, token.raw)
    )


def alg_none_trusted(monkeypatch, settings):
    """Tokens with alg 'none' taken at their word, on tenant routes and on installs."""
    real_host, real_install = tokens.verify_host_token, authentication.authenticate_install

    def verify_host_token(token, *args, **kwargs):
        if token.header.get("alg") == "none":
            return tokens.VerifiedToken(token.claims, token.raw)
        return real_host(token, *args, **kwargs)

    def authenticate_install(request):
        token = tokens.read_unverified(authentication.token_from_request(request))
        return (
            tokens.VerifiedToken(token.claims, token.raw)
            if token.header.get("alg") == "none"
            else real_install(request)
        )

    monkeypatch.setattr(tokens, "verify_host_token", verify_host_token)
    monkeypatch.setattr(authentication, "authenticate_install", authenticate_install)


def algorithm_confusion(monkeypatch, settings):
    """An install's HS256 signature checked with the RSA public key as the HMAC key (CVE-2015-9235 style)."""
    real = authentication.authenticate_install

    def confused(request):
        token = tokens.read_unverified(authentication.token_from_request(request))
        if token.header.get("alg") != "HS256":
            return real(request)
        public_key = install_keys.get_install_key(token.header.get("kid"))
        pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        signing_input, _, signature = token.raw.rpartition(".")
        digest = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
        if signature != base64.urlsafe_b64encode(digest).rstrip(b"=").decode():
            raise exceptions.InvalidSignature("the token's signature does not verify")
        return tokens.VerifiedToken(token.claims, token.raw)

    monkeypatch.setattr(authentication, "authenticate_install", confused)


def install_key_not_chosen_by_kid(monkeypatch, settings):
    """The first key fetched verifies every later install, whatever its kid."""
    real = install_keys.get_install_key
    first = []

    def get_install_key(kid):
        if not first:
            first.append(real(kid))
        return first[0]

    monkeypatch.setattr(install_keys, "get_install_key", get_install_key)


def routes_left_unauthenticated(monkeypatch, settings):
    # Not the install routes: their views read the verified install token, so left open they answer 500 and the
    # check cannot install at all (it says so, CheckCannotStart). The install breakages below cover them.
    for view in (
        views.disabled,
        views.hello,
        views.whoami,
        views.webhook_issue_created,
    ):
        monkeypatch.setattr(view, "connect_auth_policy", AuthPolicy.PUBLIC, raising=False)


def tenant_signature_not_verified(monkeypatch, settings):
    real = tokens._decode

    def unverified(token, key, algorithm, *, leeway, audience):
        if algorithm != "HS256":
            return real(token, key, algorithm, leeway=leeway, audience=audience)
        return jwt.decode(token, options={"verify_signature": False})

    monkeypatch.setattr(tokens, "_decode", unverified)


def hs256_installs_accepted(monkeypatch, settings):
    """The tenant-takeover bug of old ACE: an HS256 install verified with the stored secret, or for want of one
    with the secret in the body."""
    real = authentication.authenticate_install

    def legacy(request):
        token = tokens.read_unverified(authentication.token_from_request(request))
        if token.header.get("alg") != "HS256":
            return real(request)
        host = AtlassianHost.objects.filter(client_key=token.claims.get("iss")).first()
        secrets = [host.shared_secret] if host else []
        secrets.append(Secret(json.loads(request.body).get("sharedSecret") or "-"))
        for secret in secrets:
            try:
                expected = qsh.request_hashes(request, conf.base_path)
                return tokens.verify_host_token(token, secret, expected_qsh=expected, allow_context=False, leeway=30)
            except exceptions.InvalidSignature:
                continue
        raise exceptions.InvalidSignature("the token's signature does not verify")

    monkeypatch.setattr(authentication, "authenticate_install", legacy)


def rotation_not_applied(monkeypatch, settings):
    real = lifecycle.installed

    def keep_old_secret(token, payload):
        host = AtlassianHost.objects.filter(client_key=payload.client_key).first()
        if host is not None:
            payload = dataclasses.replace(payload, shared_secret=host.shared_secret)
        return real(token, payload)

    monkeypatch.setattr(lifecycle, "installed", keep_old_secret)


def uninstalled_tenant_not_revived(monkeypatch, settings):
    real = lifecycle.installed

    def no_revival(token, payload):
        host = AtlassianHost.objects.filter(client_key=payload.client_key, installed=False).first()
        return host if host is not None else real(token, payload)

    monkeypatch.setattr(lifecycle, "installed", no_revival)


def enabled_flag_ignored(monkeypatch, settings):
    monkeypatch.setattr(AtlassianHost, "is_active", property(lambda host: host.installed))


def installed_flag_ignored(monkeypatch, settings):
    monkeypatch.setattr(AtlassianHost, "is_active", property(lambda host: True))


def enabled_callback_ignored(monkeypatch, settings):
    real = lifecycle.set_enabled
    monkeypatch.setattr(
        lifecycle, "set_enabled", lambda host, token, payload, *, enabled: real(host, token, payload, enabled=False)
    )


def kid_not_validated(monkeypatch, settings):
    monkeypatch.setattr(install_keys, "validate_kid", lambda kid: kid)


def body_not_validated(monkeypatch, settings):
    def lax(body, *, expected_event):
        data = json.loads(body)
        return lifecycle.LifecyclePayload(
            event_type=expected_event,
            client_key=data.get("clientKey"),
            base_url=data.get("baseUrl") or "",
            display_url="",
            product_type="",
            description=data.get("description", ""),
            oauth_client_id="",
            service_entitlement_number="",
            shared_secret=Secret(data.get("sharedSecret") or "") if expected_event == "installed" else None,
            body_digest=hashlib.sha256(body).hexdigest(),
        )

    monkeypatch.setattr(lifecycle.LifecyclePayload, "parse", staticmethod(lax))


def issuer_not_matched_to_client_key(monkeypatch, settings):
    monkeypatch.setattr(lifecycle, "_require_issuer_is_client_key", lambda token, payload: None)


def tenant_chosen_by_xdm_e(monkeypatch, settings):
    real = authentication.authenticate_host_request

    def by_xdm_e(request, policy):
        host_user = real(request, policy)
        named = AtlassianHost.objects.filter(base_url=request.GET.get("xdm_e", "")).first()
        return dataclasses.replace(host_user, host=named) if named else host_user

    monkeypatch.setattr(authentication, "authenticate_host_request", by_xdm_e)


def claims_not_required(monkeypatch, settings):
    monkeypatch.setattr(tokens, "HOST_TOKEN_CLAIMS", ("iss", "qsh"))


def malformed_tokens_crash(monkeypatch, settings):
    def naive(token):
        header, claims, _signature = token.split(".")
        decode = lambda segment: json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))  # noqa: E731
        return tokens.UnverifiedToken(token, decode(header), decode(claims))

    monkeypatch.setattr(tokens, "read_unverified", naive)


def qsh_plus_not_a_space(monkeypatch, settings):
    real = qsh.canonical_query
    monkeypatch.setattr(qsh, "canonical_query", lambda query: real(query.replace("+", "%2B")))


def qsh_repeated_values_unsorted(monkeypatch, settings):
    def arrival_order(query):
        values: dict[str, list[str]] = {}
        for name, value in parse_qsl(query, keep_blank_values=True):
            if name != "jwt":
                values.setdefault(name, []).append(value)
        encode = lambda text: quote(text, safe="~")  # noqa: E731
        return "&".join(f"{encode(name)}={','.join(map(encode, vs))}" for name, vs in sorted(values.items()))

    monkeypatch.setattr(qsh, "canonical_query", arrival_order)


def qsh_over_the_raw_query(monkeypatch, settings):
    monkeypatch.setattr(qsh, "canonical_query", lambda query: query)


def descriptor_without_signed_install(monkeypatch, settings):
    monkeypatch.setitem(descriptor.API_MIGRATIONS, "signed-install", False)


def webhook_handler_crashes(monkeypatch, settings):
    def record_delivery(host, **kwargs):
        raise RuntimeError("the webhook store is down")

    monkeypatch.setattr(webhooks, "record_delivery", record_delivery)


def secret_in_a_response(monkeypatch, settings):
    """The context endpoint reports the tenant it speaks for, secret and all."""

    def with_secret(data, *args, **kwargs):
        host = AtlassianHost.objects.filter(client_key=data.get("clientKey")).first()
        if host is not None:
            data = {**data, "sharedSecret": host.shared_secret.reveal()}
        return JsonResponse(data, *args, **kwargs)

    monkeypatch.setattr(views, "JsonResponse", with_secret)


def context_endpoint_refuses_request_bound_tokens(monkeypatch, settings):
    real = tokens.verify_host_token

    def context_only(token, secret, **kwargs):
        if kwargs["allow_context"] and token.claims.get("qsh") != qsh.CONTEXT_QSH:
            raise exceptions.QshMismatch("only context tokens here")
        return real(token, secret, **kwargs)

    monkeypatch.setattr(tokens, "verify_host_token", context_only)


def context_tokens_without_qsh_accepted(monkeypatch, settings):
    """The rule before the context-qsh migration: a token without qsh passed as a context token."""
    real = tokens._check_qsh

    def check_qsh(claims, expected, *, allow_context):
        if not (allow_context and "qsh" not in claims):
            real(claims, expected, allow_context=allow_context)

    monkeypatch.setattr(tokens, "HOST_TOKEN_CLAIMS", ("exp", "iat", "iss"))
    monkeypatch.setattr(tokens, "_check_qsh", check_qsh)


def token_length_not_capped(monkeypatch, settings):
    # The live server refuses header lines over 64 kB itself (431): lifted, so the app's own cap is what is tested.
    monkeypatch.setattr(http.client, "_MAXLINE", 1_000_000)
    monkeypatch.setattr(tokens, "MAX_TOKEN_LENGTH", 1_000_000)


def expiry_not_checked(monkeypatch, settings):
    settings.ATLASSIAN_CONNECT_JWT_LEEWAY = 10**7


_BAD_KIDS = [
    "missing", "empty", "a number", "climbing out of the key service", "a URL on another host",
    "with a query and a fragment", "with CR LF", "of 2 kB", "'..' segment back to the real kid", "leading '/'",
    "'//'", "'?' after the real kid", "'#' after the real kid", "'%'-encoded real kid", "'\\'", "'@'", "':'",
    "tab", "of 257 characters",
]  # fmt: skip
_BAD_BODIES = [
    "invalid JSON",
    "JSON that is not an object",
    "no clientKey",
    "no sharedSecret",
    "no baseUrl",
    "1 MB body",
]
_AWKWARD = [
    "spaces as '+'", "spaces as %20", "a literal '+' as %2B", "'*' and '~', raw and encoded", "UTF-8 text",
    "repeated names out of order", "empty values", "a name without '='", "names differing only by case",
    "encoded '&', '=' and ',' in a value", "reserved characters left raw", "';' in a value",
    "jwt parameter first",
]  # fmt: skip

BREAKAGES = {
    qsh_not_checked: [
        "page qsh of another method", "page qsh of another path", "page qsh of another query",
        "webhook qsh of another method", "webhook qsh of another path", "webhook qsh of another query",
        "context endpoint token bound to another path", "context endpoint token bound to another query",
        "context endpoint token bound to another method", "hostile install qsh of another method",
        "hostile install qsh of another path", "hostile install qsh of another query",
        "hostile disabled qsh of another path",
    ],
    context_tokens_accepted_everywhere: [
        "page context token", "webhook context token", "hostile disabled context token",
    ],
    context_tokens_refused_everywhere: [
        "context endpoint context token", "install", "context endpoint tenant isolation",
    ],
    aud_not_checked: ["hostile install wrong aud"],
    install_token_not_verified: [
        "hostile install tampered signature", "hostile install wrong aud", "hostile install expired",
        "hostile install no exp", "hostile install no qsh", "hostile install no iss",
        "hostile install qsh of another method", "hostile install qsh of another path",
        "hostile install qsh of another query", "hostile install context qsh",
    ],
    alg_none_trusted: [
        "page alg=none", "webhook alg=none", "context endpoint context token alg=none", "hostile install alg=none",
        "hostile uninstall alg=none",
    ],
    algorithm_confusion: ["hostile install HS256 keyed with the RSA public key"],
    install_key_not_chosen_by_kid: ["hostile install unknown kid"],
    routes_left_unauthenticated: [
        "page no token", "page no qsh", "page no iss", "page unknown iss", "webhook no token", "webhook no qsh",
        "webhook no iss", "webhook unknown iss", "webhook other site's secret", "context endpoint no token",
        "context endpoint context token of an unknown iss", "hostile disabled no token",
    ],
    tenant_signature_not_verified: [
        "page tampered signature", "page other site's secret", "webhook tampered signature",
        "context endpoint tampered context token", "context endpoint context token signed with another site's secret",
        "hostile disabled other site's secret", "rotation old secret",
    ],
    hs256_installs_accepted: [
        "hostile install HS256 with the tenant's own secret", "hostile install HS256 with an attacker's secret",
        "hostile uninstall HS256 with the tenant's own secret",
    ],
    rotation_not_applied: ["rotation new secret", "rotation old secret"],
    uninstalled_tenant_not_revived: ["reinstalled"],
    enabled_flag_ignored: ["disabled"],
    installed_flag_ignored: ["uninstalled", "disabled"],
    enabled_callback_ignored: ["enabled again"],
    # Without clientKey the token's iss matches nothing: refused all the same (401, a warning), so not listed.
    body_not_validated: [f"hostile install body {body}" for body in _BAD_BODIES if body != "no clientKey"],
    issuer_not_matched_to_client_key: [
        "hostile install genuine token of another site", "hostile install iss not the body's clientKey",
        "hostile uninstall genuine token of another site",
    ],
    tenant_chosen_by_xdm_e: ["context endpoint tenant isolation"],
    claims_not_required: ["page no exp", "webhook no exp"],
    malformed_tokens_crash: [
        "page garbage token", "page two-segment token", "webhook garbage token", "webhook two-segment token",
        "hostile install garbage token", "hostile install two-segment token",
    ],
    qsh_plus_not_a_space: ["qsh spaces as '+'"],
    qsh_repeated_values_unsorted: ["qsh repeated names out of order"],
    qsh_over_the_raw_query: ["page load", *(f"qsh {query}" for query in _AWKWARD)],
    expiry_not_checked: [
        "page expired", "webhook expired", "hostile install expired", "context endpoint expired context token",
    ],
    descriptor_without_signed_install: ["descriptor"],
    webhook_handler_crashes: ["webhook", "install", "enabled again"],
    context_endpoint_refuses_request_bound_tokens: [
        "context endpoint request-bound token", "context endpoint tenant isolation",
    ],
    context_tokens_without_qsh_accepted: ["context endpoint context token without qsh"],
    token_length_not_capped: ["webhook 100 kB token", "hostile install 100 kB token"],
    secret_in_a_response: ["context endpoint context token", "context endpoint anonymous"],
}  # fmt: skip


def refusals_with_400(monkeypatch, settings):
    monkeypatch.setattr(exceptions.AuthenticationFailed, "status", 400)


def test_kid_shapes_are_hardening_notes_a_crash_on_one_a_failure(descriptor_url, keys_port, monkeypatch, settings):
    kid_not_validated(monkeypatch, settings)

    report, lines = run_check(descriptor_url, keys_port)

    # Without validation a kid that is not a string reaches code that needs one: a 500, whatever the case.
    crashes = ["hostile install kid missing", "hostile install kid a number"]
    assert report.failures == crashes
    assert all(any(line.startswith(f"✗ {name}: expected 401, got 500") for line in lines) for name in crashes)
    assert set(report.hardening) == {f"hostile install kid {kid}" for kid in _BAD_KIDS} - set(crashes)
    assert any(
        line.startswith("◇ hostile install kid '..' segment back to the real kid: expected 401") for line in lines
    )
    assert lines[-2] == f"0 warnings, {len(report.hardening)} hardening notes"
    assert lines[-1] == f"{report.passed} passed, 2 failed"


def test_a_refusal_with_another_4xx_is_a_warning(descriptor_url, keys_port, monkeypatch, settings):
    refusals_with_400(monkeypatch, settings)

    report, lines = run_check(descriptor_url, keys_port)

    assert report.failures == []
    assert {"page no token", "page alg=none", "webhook expired", "hostile install no token", "disabled"} <= set(
        report.warnings
    )
    assert "⚠ page alg=none: expected 401, got 400 — refused, but not with the conventional status; fix: " in "\n".join(
        lines
    )
    assert lines[-2] == f"{len(report.warnings)} warnings, 0 hardening notes"
    assert lines[-1] == f"{len(report.outcomes)} passed, 0 failed"


def test_strict_counts_warnings_as_failures(descriptor_url, keys_port, monkeypatch, settings):
    refusals_with_400(monkeypatch, settings)

    report, lines = run_check(descriptor_url, keys_port, strict=True)

    assert report.warnings == []
    assert {"page no token", "page alg=none", "webhook expired", "hostile install no token"} <= set(report.failures)
    assert any(line.startswith("✗ page alg=none: expected 401, got 400 — fix: ") for line in lines)
    assert lines[-1] == f"{report.passed} passed, {report.failed} failed"


@pytest.mark.parametrize("breakage", BREAKAGES, ids=lambda breakage: breakage.__name__)
def test_each_case_fails_when_the_app_breaks_what_it_checks(descriptor_url, keys_port, monkeypatch, settings, breakage):
    breakage(monkeypatch, settings)

    report, lines = run_check(descriptor_url, keys_port)

    expected = BREAKAGES[breakage]
    assert set(expected) <= set(report.failures), f"still passing: {sorted(set(expected) - set(report.failures))}"
    for name in expected:
        assert any(line.startswith(f"✗ {name}: expected ") and " — fix: " in line for line in lines), name
    assert SUMMARY.fullmatch(lines[-1]).groups() == (str(report.passed), str(report.failed))
    assert report.failed > 0


# --- The command line ---------------------------------------------------------------------------------------


def check_command(descriptor_url: str, keys_port: int, *options: str) -> subprocess.CompletedProcess[bytes]:
    command = [sys.executable, "-m", "fake_jira", "check", descriptor_url, "--keys-port", str(keys_port), *options]
    return subprocess.run(command, cwd=ROOT, capture_output=True, timeout=120, check=False)  # noqa: S603


def test_python_m_fake_jira_check_passes_against_this_app(descriptor_url, keys_port):
    options = ["--context-path", CONTEXT_PATH, "--forge-app-id", FORGE_APP_ID, "--strict"]
    finished = check_command(descriptor_url, keys_port, *options)

    lines = finished.stdout.decode().splitlines()
    assert finished.returncode == 0, "\n".join([*lines, finished.stderr.decode()])
    assert lines[0] == f"install-key service: http://127.0.0.1:{keys_port}/install-keys"
    assert [line for line in lines if line.startswith("- skipped")] == []
    assert re.fullmatch(r"\d+ passed, 0 failed", lines[-1])


def test_python_m_fake_jira_check_exits_1_when_a_case_fails(descriptor_url, keys_port, monkeypatch, settings):
    qsh_not_checked(monkeypatch, settings)

    finished = check_command(descriptor_url, keys_port)

    lines = finished.stdout.decode().splitlines()
    assert finished.returncode == 1
    assert (
        "- skipped context endpoint cases: no --context-path given "
        "(enable: --context-path PATH, the app's endpoint for AP.context.getToken() tokens)"
    ) in lines
    assert any(line.startswith("✗ page qsh of another path: expected 401, got 200 — fix: ") for line in lines)
    assert int(SUMMARY.fullmatch(lines[-1]).group(2)) > 0


def test_check_refuses_a_descriptor_url_that_is_not_one(capsys):
    assert main(["check", "not a url"]) == 2

    assert "is not the absolute http(s) URL of the app's descriptor" in capsys.readouterr().err


def test_check_says_when_its_port_is_taken(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["check", "http://127.0.0.1:9/jira/atlassian-connect.json", "--keys-port", str(port)]) == 2

    assert f"cannot serve the install-key service on 127.0.0.1:{port}" in capsys.readouterr().err
