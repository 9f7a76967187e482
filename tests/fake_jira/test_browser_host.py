"""fake_jira.browser without a browser: the host page, the iframe's page JWT, and what the bridge calls.

Chromium runs the same page in tests/browser/ (nox -s browser); these run in the default suite.
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests

from fake_jira.browser.assets import FILES, HOW_TO_INSTALL, Assets
from fake_jira.browser.host import ALL_JS_PATH, BrowserHost
from fake_jira.browser.server import BrowserHostServer
from fake_jira.messages import Request
from fake_jira.server import ThreadedServer
from tests.fake_jira.toy_app import APP_KEY

CONFIG = re.compile(r'<script id="host-config" type="application/json">(.*?)</script>', re.S)


@pytest.fixture
def node_modules(tmp_path):
    """A node_modules tree as npm ci leaves it, with a marker in each file the host serves."""
    for name, path in FILES.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(f"/* {name} */")
    return tmp_path


@pytest.fixture
def host(fake_jira, installed, node_modules):
    browser_host = BrowserHost(fake_jira, Assets(node_modules))
    browser_host.register(installed)
    return browser_host


@pytest.fixture
def alice(jira_site):
    return jira_site.add_user("Alice")


def _get(host, url):
    return host.handle(Request("GET", url))


def _post(host, site, action, body):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return host.handle(Request("POST", f"https://browser.test/browser/sites/{site.name}/{action}", {}, data))


def _config(response):
    return json.loads(CONFIG.search(response.text).group(1))


def test_the_host_page_frames_the_app_with_a_page_jwt_the_app_accepts(host, jira_site, installed, alice):
    page = _get(host, host.page_url(jira_site, installed, user=alice))

    assert page.status == 200
    assert page.headers["Content-Type"].startswith("text/html")
    config = _config(page)
    assert config["user"] == {"accountId": alice.account_id, "displayName": "Alice"}
    src = urlsplit(config["iframeUrl"])
    params = parse_qs(src.query, keep_blank_values=True)
    assert params["xdm_e"] == [jira_site.base_url]
    assert params["cp"] == [jira_site.state.base_path]
    assert params["lic"] == ["none"]
    assert params["xdm_deprecated_addon_key_do_not_use"] == [APP_KEY]
    claims = jwt.decode(params["jwt"][0], options={"verify_signature": False})
    assert (claims["iss"], claims["sub"]) == (jira_site.client_key, alice.account_id)
    # The toy app checks the page JWT (signature with the site's secret, qsh of this exact URL) with PyJWT
    # and atlassian-jwt: the URL reaches it as the browser would send it.
    answer = installed.transport.send("GET", src.path + "?" + src.query, headers={})
    assert answer.status == 200, answer.text
    assert "Alice" in page.text
    assert f'<span class="site-name" id="site-name" title="{jira_site.base_url}">acme</span>' in page.text


def test_the_context_module_mints_a_context_jwt_with_the_current_secret(host, jira_site, installed, alice):
    answer = _post(host, jira_site, "context-token", {"app": APP_KEY, "user": alice.account_id})

    assert answer.status == 200
    token = answer.json()["token"]
    claims = jwt.decode(token, jira_site.installation(installed).shared_secret, algorithms=["HS256"])
    assert (claims["qsh"], claims["sub"], claims["iss"]) == ("context-qsh", alice.account_id, jira_site.client_key)
    assert installed.transport.send("GET", "/toy/api/whoami", headers={"Authorization": f"JWT {token}"}).ok


def test_rotating_signs_the_next_tokens_with_the_new_secret(host, jira_site, installed):
    old = jira_site.installation(installed).shared_secret

    answer = _post(host, jira_site, "rotate", {"app": APP_KEY})

    assert answer.status == 200
    assert answer.json() == {"appStatus": 204, "rotatedSecrets": 1}
    new = jira_site.installation(installed).shared_secret
    assert new != old
    token = _post(host, jira_site, "context-token", {"app": APP_KEY}).json()["token"]
    assert jwt.decode(token, new, algorithms=["HS256"])["sub"] == jira_site.admin.account_id
    src = urlsplit(_config(_get(host, host.page_url(jira_site, installed)))["iframeUrl"])
    assert installed.transport.send("GET", src.path + "?" + src.query, headers={}).status == 200
    assert old not in answer.text


def test_a_request_from_the_bridge_acts_as_the_signed_in_user(host, jira_site, alice):
    answer = _post(host, jira_site, "request", {"app": APP_KEY, "user": alice.account_id, "url": "/rest/api/3/myself"})

    assert answer.status == 200
    assert (answer.json()["accountId"], answer.json()["displayName"]) == (alice.account_id, "Alice")
    assert jira_site.api_calls[-1].action == "AP.request as Alice"


@pytest.mark.parametrize(
    ("action", "body", "status"),
    [
        ("context-token", b"{not json", 400),
        ("context-token", b"[1, 2]", 400),
        ("context-token", {"app": "someone-else"}, 404),
        ("context-token", {"app": APP_KEY, "user": "no-such-account"}, 404),
        ("request", {"app": APP_KEY, "url": "//attacker.example/steal"}, 400),
        ("request", {"app": APP_KEY, "url": "https://attacker.example/"}, 400),
        ("request", {"app": APP_KEY, "url": "/rest/api/3/nothing-here"}, 404),
        ("request", {"app": APP_KEY, "url": "/rest/api/3/myself", "type": "DELETE"}, 405),
        ("unknown-action", {"app": APP_KEY}, 404),
    ],
)
def test_bad_input_from_the_page_gets_a_4xx_without_secrets(host, jira_site, installed, action, body, status):
    secret = jira_site.installation(installed).shared_secret

    answer = _post(host, jira_site, action, body)

    assert answer.status == status
    assert secret not in answer.text
    assert jira_site.installation(installed).shared_secret == secret


def test_unknown_sites_apps_and_pages_are_404(host, jira_site, installed):
    base = jira_site.base_url + "/plugins/servlet/ac"
    assert _get(host, f"{base}/someone-else/hello").status == 404
    assert _get(host, f"{base}/{APP_KEY}/no-such-page").status == 404
    assert (
        host.handle(Request("POST", "https://browser.test/browser/sites/nowhere/context-token", {}, b"{}")).status
        == 404
    )
    assert host.handle(Request("GET", "https://browser.test/browser/sites/acme/context-token")).status == 405
    # Anything else is the simulator's to answer.
    assert _get(host, jira_site.base_url + "/rest/api/3/myself") is None


def test_the_published_scripts_are_served_from_node_modules(host):
    assert _get(host, "https://browser.test" + ALL_JS_PATH).text == "/* all.js */"
    assert _get(host, "https://browser.test/browser/npm/connect-host.js").text == "/* connect-host.js */"
    assert (
        _get(host, "https://browser.test/browser/npm/jquery.js").headers["Content-Type"].startswith("text/javascript")
    )
    assert _get(host, "https://browser.test/browser/npm/../../etc/passwd").status == 404
    assert _get(host, "https://browser.test/browser/static/host.js").status == 200


def test_without_connect_js_the_page_says_how_to_get_it(fake_jira, jira_site, installed, monkeypatch):
    monkeypatch.delenv("FAKE_JIRA_NODE_MODULES", raising=False)
    host = BrowserHost(fake_jira, Assets())
    host.register(installed)

    page = _get(host, host.page_url(jira_site, installed))
    script = _get(host, "https://browser.test/browser/npm/connect-host.js")

    assert page.status == 200
    assert "npm ci" in page.text
    assert "<script src=" not in page.text
    assert _config(page)["iframeUrl"] is None
    assert (script.status, script.text) == (503, HOW_TO_INSTALL)


def test_the_http_server_serves_the_browser_routes_beside_the_simulators(node_modules):
    with ThreadedServer(server_class=lambda h, p: BrowserHostServer(h, p, node_modules=node_modules)) as server:
        assert requests.get(server.url + ALL_JS_PATH, timeout=5).text == "/* all.js */"
        assert requests.get(server.url + "/_fake/sites", timeout=5).json() == []
