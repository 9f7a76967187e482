from __future__ import annotations

import json
from urllib.parse import parse_qsl, quote

import jwt
import pytest
import requests
from atlassian_jwt.url_utils import hash_url

from fake_jira.exceptions import FakeJiraError
from fake_jira.messages import Response
from fake_jira.tokens import Forgery
from tests.fake_jira.toy_app import BASE_URL, DESCRIPTOR_PATH, toy_descriptor


class Recorder:
    """An app that accepts everything and keeps what it was sent, to look at Jira's requests themselves."""

    def __init__(self):
        self.sent = []

    def send(self, method, target, *, headers, body=b""):
        if target == DESCRIPTOR_PATH:
            return Response.from_json(200, toy_descriptor())
        self.sent.append((method, target, dict(headers), body))
        return Response(204)

    @property
    def last(self):
        method, target, headers, body = self.sent[-1]
        return method, target, headers, json.loads(body) if body else None


@pytest.fixture
def recorder():
    return Recorder()


@pytest.fixture
def recorded_app(fake_jira, recorder):
    return fake_jira.connect_app(recorder, DESCRIPTOR_PATH)


def _bearer(headers):
    scheme, _, token = headers["Authorization"].partition(" ")
    assert scheme == "JWT"
    return token


def _hs256(token, site, app):
    return jwt.decode(token, site.installation(app).shared_secret, algorithms=["HS256"])


def test_install_is_signed_as_atlassian_signs_it(fake_jira, jira_site, recorded_app, recorder):
    jira_site.install(recorded_app)

    method, target, headers, body = recorder.last
    token = _bearer(headers)
    header = jwt.get_unverified_header(token)
    # The app's own path to the key: through the responses router, like any in-process app.
    pem = requests.get(f"{fake_jira.keys_url}/{quote(header['kid'], safe='/')}", timeout=5).text
    claims = jwt.decode(token, pem, algorithms=["RS256"], audience=BASE_URL)
    assert (method, target) == ("POST", "/toy/installed")
    assert header["alg"] == "RS256"
    assert claims["aud"] == [BASE_URL]
    assert claims["iss"] == jira_site.client_key
    assert claims["sub"] == jira_site.admin.account_id
    assert claims["qsh"] == hash_url("POST", "/installed")
    assert claims["exp"] - claims["iat"] == 180
    assert headers["Content-Type"] == "application/json"
    assert set(body) == {
        "key",
        "clientKey",
        "sharedSecret",
        "baseUrl",
        "productType",
        "description",
        "eventType",
        "oauthClientId",
    }
    assert body["key"] == recorded_app.key
    assert body["clientKey"] == jira_site.client_key
    assert body["sharedSecret"] == jira_site.installation(recorded_app).shared_secret
    assert body["sharedSecret"].startswith("ATCO")
    assert body["baseUrl"] == jira_site.base_url == "https://acme.atlassian.net"
    assert (body["productType"], body["eventType"]) == ("jira", "installed")


def test_a_licensed_site_with_a_custom_domain_says_so(fake_jira, recorded_app, recorder):
    site = fake_jira.add_site("globex", licensed=True, display_url="https://jira.globex.example")

    site.install(recorded_app)
    page = site.load_page(recorded_app, "hello")

    body = recorder.sent[0][3]
    assert json.loads(body)["serviceEntitlementNumber"].startswith("SEN-")
    assert json.loads(body)["displayUrl"] == "https://jira.globex.example"
    assert page.ok
    assert "lic=active" in recorder.last[1]


def test_reinstall_rotates_the_secret_and_remembers_the_old_one(jira_site, recorded_app, recorder):
    jira_site.install(recorded_app)
    first = recorder.last[3]

    jira_site.reinstall(recorded_app)

    second = recorder.last[3]
    installation = jira_site.installation(recorded_app)
    assert second["sharedSecret"] != first["sharedSecret"]
    assert installation.shared_secret == second["sharedSecret"]
    assert installation.previous_secrets == [first["sharedSecret"]]
    assert (second["clientKey"], second["oauthClientId"]) == (first["clientKey"], first["oauthClientId"])


def test_reinstall_needs_an_install(jira_site, recorded_app):
    with pytest.raises(FakeJiraError, match="install\\(\\) it first"):
        jira_site.reinstall(recorded_app)


def test_uninstall_is_signed_and_carries_no_secret(jira_site, recorded_app, recorder):
    jira_site.install(recorded_app)

    jira_site.uninstall(recorded_app)

    method, target, headers, body = recorder.last
    assert (method, target) == ("POST", "/toy/uninstalled")
    assert jwt.get_unverified_header(_bearer(headers))["alg"] == "RS256"
    assert body["eventType"] == "uninstalled"
    assert "sharedSecret" not in body
    assert not jira_site.installation(recorded_app).installed


@pytest.mark.parametrize("event", ["disabled", "enabled"])
def test_enable_and_disable_are_signed_with_the_current_secret(jira_site, recorded_app, recorder, event):
    jira_site.install(recorded_app)

    getattr(jira_site, event.removesuffix("d"))(recorded_app)

    method, target, headers, body = recorder.last
    claims = _hs256(_bearer(headers), jira_site, recorded_app)
    assert (method, target, body["eventType"]) == ("POST", f"/toy/{event}", event)
    assert claims["qsh"] == hash_url("POST", f"/{event}")
    assert claims["iss"] == jira_site.client_key
    assert jira_site.installation(recorded_app).enabled is (event == "enabled")


def test_a_refused_or_forged_install_changes_nothing(jira_site, recorded_app, toy_app, fake_jira):
    app = fake_jira.connect_app(toy_app, DESCRIPTOR_PATH)

    assert jira_site.install(app, forgery=Forgery.UNKNOWN_KID).status == 401
    assert jira_site.install(recorded_app, forgery=Forgery.WRONG_AUD).status == 204

    assert jira_site.state.installations == {}


def test_a_page_load_carries_the_context_and_a_token_bound_to_it(jira_site, recorded_app, recorder):
    jira_site.install(recorded_app)

    jira_site.load_page(recorded_app, "hello", context={"project.key": "A&B"})

    method, target, _, _ = recorder.last
    path, _, query = target.partition("?")
    params = parse_qsl(query, keep_blank_values=True)
    claims = _hs256(dict(params)["jwt"], jira_site, recorded_app)
    assert (method, path) == ("GET", "/toy/hello")
    assert params[0] == ("project", "A&B")
    assert params[-1][0] == "jwt"
    assert dict(params[1:-1]) == {
        "xdm_e": jira_site.base_url,
        "xdm_c": f"channel-{recorded_app.key}__hello",
        "cp": "",
        "xdm_deprecated_addon_key_do_not_use": recorded_app.key,
        "lic": "none",
        "cv": "1001.0.0-SNAPSHOT",
        "tz": "Europe/Berlin",
        "loc": "en-US",
    }
    assert claims["qsh"] == hash_url("GET", target.removeprefix("/toy"))
    assert (claims["iss"], claims["sub"]) == (jira_site.client_key, jira_site.admin.account_id)
    assert claims["exp"] - claims["iat"] == 180


def test_a_context_token_is_not_bound_to_a_request(jira_site, recorded_app):
    jira_site.install(recorded_app)
    alice = jira_site.add_user("Alice")

    claims = _hs256(jira_site.context_token(recorded_app, user=alice), jira_site, recorded_app)

    assert claims["qsh"] == "context-qsh"
    assert claims["sub"] == alice.account_id
    assert claims["exp"] - claims["iat"] == 900


def test_a_logged_out_viewer_has_no_sub_on_pages_context_tokens_and_calls(jira_site, recorded_app, recorder):
    jira_site.install(recorded_app)

    jira_site.load_page(recorded_app, "hello", anonymous=True)
    page_token = dict(parse_qsl(recorder.last[1].partition("?")[2]))["jwt"]
    jira_site.call_app(recorded_app, "GET", "/api/whoami", anonymous=True)
    call_token = _bearer(recorder.last[2])
    context_token = jira_site.context_token(recorded_app, anonymous=True)

    for token in (page_token, call_token, context_token):
        claims = _hs256(token, jira_site, recorded_app)
        assert "sub" not in claims
        assert claims["iss"] == jira_site.client_key


def test_a_request_is_anonymous_or_made_by_a_user_not_both(jira_site, recorded_app):
    jira_site.install(recorded_app)

    with pytest.raises(FakeJiraError, match="either anonymous or made by a user"):
        jira_site.load_page(recorded_app, "hello", user=jira_site.admin, anonymous=True)


def test_webhooks_and_their_retries(jira_site, recorded_app, recorder):
    jira_site.install(recorded_app)
    jira_site.add_project("ACME", "Acme")
    issue = jira_site.add_issue("ACME", "Something broke")

    jira_site.send_webhook(recorded_app, "jira:issue_created", issue=issue)
    _, target, first, body = recorder.last
    jira_site.retry_webhook(recorded_app)
    _, _, retry, retried_body = recorder.last

    assert target == "/toy/webhooks/issue-created"
    assert _hs256(_bearer(first), jira_site, recorded_app)["qsh"] == hash_url("POST", "/webhooks/issue-created")
    assert first["X-Atlassian-Webhook-Identifier"] == retry["X-Atlassian-Webhook-Identifier"]
    assert (first["X-Atlassian-Webhook-Retry"], retry["X-Atlassian-Webhook-Retry"]) == ("0", "1")
    assert first["X-Atlassian-Webhook-Flow"] == "Primary"
    assert body == retried_body
    assert body["webhookEvent"] == "jira:issue_created"
    assert body["issue"]["key"] == "ACME-1"
    assert body["user"]["accountId"] == jira_site.admin.account_id
    assert isinstance(body["timestamp"], int)


def test_webhooks_go_only_where_the_descriptor_subscribes(jira_site, recorded_app):
    jira_site.install(recorded_app)

    with pytest.raises(FakeJiraError, match="jira:issue_created"):
        jira_site.send_webhook(recorded_app, "jira:issue_deleted")
    with pytest.raises(FakeJiraError, match="no webhook"):
        jira_site.retry_webhook(recorded_app)


def test_traffic_needs_an_installed_app(jira_site, recorded_app):
    with pytest.raises(FakeJiraError, match="never installed"):
        jira_site.load_page(recorded_app, "hello")


def test_a_whole_life_with_an_app_that_checks_everything(fake_jira, jira_site, installed, toy_app):
    jira_site.add_project("ACME", "Acme")

    page = jira_site.load_page(installed, "hello")
    who = jira_site.call_app(installed, "GET", "/api/whoami")
    bound = jira_site.call_app(installed, "GET", "/api/whoami", qsh_bound=True)
    webhook = jira_site.send_webhook(installed, "jira:issue_created", issue=jira_site.add_issue("ACME", "x"))
    retried = jira_site.retry_webhook(installed)

    assert page.status == 200, page.text
    assert page.json() == {"projects": ["ACME"]}
    assert who.json() == {"clientKey": jira_site.client_key, "accountId": jira_site.admin.account_id}
    assert bound.status == 401  # the toy app's whoami takes context tokens only
    assert (webhook.status, retried.status) == (204, 204)
    assert [(identifier, retry) for identifier, retry, _ in toy_app.webhooks][1][1] == "1"
    assert jira_site.api_calls[-1].status == 200

    jira_site.reinstall(installed)
    assert jira_site.load_page(installed, "hello", forgery=Forgery.PREVIOUS_SECRET).status == 401
    assert jira_site.load_page(installed, "hello").status == 200
    jira_site.disable(installed)
    assert jira_site.load_page(installed, "hello").status == 401
    jira_site.enable(installed)
    assert jira_site.load_page(installed, "hello").status == 200
    jira_site.uninstall(installed)
    assert jira_site.load_page(installed, "hello").status == 401


def test_another_sites_secret_is_a_real_one_when_there_is_one(fake_jira, jira_site, installed):
    other = fake_jira.add_site("globex")
    other.install(installed)

    token = jira_site.context_token(installed, forgery=Forgery.OTHER_SITE_SECRET)

    assert _hs256(token, other, installed)["iss"] == jira_site.client_key


def test_the_event_log_tells_the_story_one_line_per_step(fake_jira, jira_site, installed):
    jira_site.load_page(installed, "hello")

    lines = [str(event) for event in fake_jira.events]
    assert lines[0] == "[jira→app] -: descriptor: GET /toy/atlassian-connect.json -> 200"
    assert any(line.startswith("[jira→app] acme: installed: POST /toy/installed -> 204") for line in lines)
    assert lines[-1].startswith("[jira→app] acme: page hello: GET /toy/hello?project=&xdm_e=")
    assert lines[-1].endswith("&jwt=… -> 200")
    assert all("ATCO" not in line for line in lines)


def test_sites_have_their_own_identity(fake_jira):
    acme, globex = fake_jira.add_site("acme"), fake_jira.add_site("globex")

    assert acme.client_key != globex.client_key
    assert globex.base_url == "https://globex.atlassian.net"
    assert len(acme.admin.account_id) == 24
    assert fake_jira.site("globex") is globex


@pytest.mark.parametrize("name", ["Acme", "a b", "-acme", "acme.example", ""])
def test_site_names_must_be_host_labels(fake_jira, name):
    with pytest.raises(FakeJiraError, match="host label"):
        fake_jira.add_site(name)


def test_site_names_are_unique(fake_jira, jira_site):
    with pytest.raises(FakeJiraError, match="already"):
        fake_jira.add_site("acme")
    with pytest.raises(FakeJiraError, match="no site named 'nope'"):
        fake_jira.site("nope")


def test_issues_need_their_project(jira_site):
    with pytest.raises(FakeJiraError, match="add_project"):
        jira_site.add_issue("NOPE", "x")


def test_an_uninstalled_app_cannot_be_enabled_and_uninstalling_twice_is_harmless(jira_site, recorded_app, recorder):
    jira_site.install(recorded_app)
    jira_site.uninstall(recorded_app)
    sent = len(recorder.sent)

    with pytest.raises(FakeJiraError, match="uninstalled from site 'acme'"):
        jira_site.enable(recorded_app)
    assert len(recorder.sent) == sent
    assert jira_site.uninstall(recorded_app).status == 204
