from __future__ import annotations

import pytest

from fake_jira.messages import Request
from tests.fake_jira.toy_app import app_token

MYSELF = "/rest/api/3/myself"


def call(fake, site, path, token=None, method="GET"):
    headers = {"Authorization": f"JWT {token}"} if token else {}
    return fake.handle(Request(method, site.base_url + path, headers))


def secret(site, app):
    return site.installation(app).shared_secret


def test_a_correctly_signed_call_is_answered_as_the_apps_user(fake_jira, jira_site, installed):
    response = call(fake_jira, jira_site, MYSELF, app_token(secret(jira_site, installed), "GET", MYSELF))

    assert response.status == 200
    body = response.json()
    assert body["accountId"] == jira_site.installation(installed).app_user.account_id
    assert body["accountId"].startswith("557058:")
    assert body["accountType"] == "app"


def test_calls_are_recorded_with_their_status(fake_jira, jira_site, installed):
    call(fake_jira, jira_site, MYSELF, app_token(secret(jira_site, installed), "GET", MYSELF))
    call(fake_jira, jira_site, MYSELF)

    assert [(event.request, event.status) for event in jira_site.api_calls] == [
        (f"GET {MYSELF}", 200),
        (f"GET {MYSELF}", 401),
    ]
    assert "Authorization: JWT" in jira_site.api_calls[1].detail


# Each case: how the app signs (given the current and the rotated-away secret), and why Jira refuses.
REFUSALS = {
    "no token": (lambda current, old: None, "Authorization: JWT"),
    "wrong secret": (
        lambda current, old: app_token("ATCO-not-this-sites-secret-long-enough", "GET", MYSELF),
        "current",
    ),
    "old secret after rotation": (lambda current, old: app_token(old, "GET", MYSELF), "rotated"),
    "wrong iss": (lambda current, old: app_token(current, "GET", MYSELF, issuer="another-app"), "not the key"),
    "expired": (lambda current, old: app_token(current, "GET", MYSELF, lifetime=-120), "expired"),
    "qsh for another path": (lambda current, old: app_token(current, "GET", "/rest/api/3/project/search"), "qsh"),
    "qsh for another method": (lambda current, old: app_token(current, "POST", MYSELF), "qsh"),
    "context qsh": (lambda current, old: app_token(current, "GET", MYSELF, qsh="context-qsh"), "qsh"),
    "alg none": (lambda current, old: app_token(None, "GET", MYSELF, algorithm="none"), "HS256"),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_jira_refuses_what_it_would_refuse(fake_jira, jira_site, installed, case):
    old_secret = secret(jira_site, installed)
    jira_site.reinstall(installed)
    sign, reason = REFUSALS[case]

    response = call(fake_jira, jira_site, MYSELF, sign(secret(jira_site, installed), old_secret))

    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("JWT")
    assert reason in response.json()["errorMessages"][0]


def test_an_expired_token_within_the_leeway_is_accepted(fake_jira, jira_site, installed):
    token = app_token(secret(jira_site, installed), "GET", MYSELF, lifetime=-10)

    assert call(fake_jira, jira_site, MYSELF, token).status == 200


@pytest.mark.parametrize("change", ["disable", "uninstall"])
def test_a_disabled_or_uninstalled_app_gets_401(fake_jira, jira_site, installed, change):
    token = app_token(secret(jira_site, installed), "GET", MYSELF)
    getattr(jira_site, change)(installed)

    response = call(fake_jira, jira_site, MYSELF, token)

    assert response.status == 401
    assert "disabled" in response.text or "not the key of an app installed" in response.text


def test_a_token_for_one_site_is_refused_by_another(fake_jira, jira_site, installed):
    other = fake_jira.add_site("globex")
    other.install(installed)
    token = app_token(secret(jira_site, installed), "GET", MYSELF)

    assert call(fake_jira, other, MYSELF, token).status == 401


def test_a_site_without_the_app_refuses_every_call(fake_jira, jira_site, app):
    token = app_token("ATCO-whatever-secret-long-enough-for-hmac-sha256", "GET", MYSELF)

    assert call(fake_jira, jira_site, MYSELF, token).status == 401


def _get(fake, site, app, path_and_query):
    return call(fake, site, path_and_query, app_token(secret(site, app), "GET", path_and_query))


def test_project_search_pages(fake_jira, jira_site, installed):
    for number in range(5):
        jira_site.add_project(f"P{number}", f"Project {number}")

    first = _get(fake_jira, jira_site, installed, "/rest/api/3/project/search?maxResults=2").json()
    last = _get(fake_jira, jira_site, installed, "/rest/api/3/project/search?startAt=4&maxResults=2").json()

    assert [p["key"] for p in first["values"]] == ["P0", "P1"]
    assert (first["startAt"], first["maxResults"], first["total"], first["isLast"]) == (0, 2, 5, False)
    assert first["nextPage"].endswith("/rest/api/3/project/search?startAt=2&maxResults=2")
    assert [p["key"] for p in last["values"]] == ["P4"]
    assert last["isLast"] is True
    assert "nextPage" not in last


def test_project_search_defaults_and_limits(fake_jira, jira_site, installed):
    jira_site.add_project("ACME", "Acme")

    default = _get(fake_jira, jira_site, installed, "/rest/api/3/project/search").json()
    capped = _get(fake_jira, jira_site, installed, "/rest/api/3/project/search?maxResults=1000").json()
    bad = _get(fake_jira, jira_site, installed, "/rest/api/3/project/search?maxResults=lots")

    assert default["maxResults"] == 50
    assert default["values"][0] == {
        "self": f"{jira_site.base_url}/rest/api/3/project/{default['values'][0]['id']}",
        "id": default["values"][0]["id"],
        "key": "ACME",
        "name": "Acme",
        "projectTypeKey": "software",
        "simplified": False,
        "style": "classic",
        "isPrivate": False,
    }
    assert capped["maxResults"] == 100
    assert bad.status == 400
    assert "maxResults" in bad.json()["errorMessages"][0]


def test_get_issue_by_key_or_id(fake_jira, jira_site, installed):
    jira_site.add_project("ACME", "Acme")
    issue = jira_site.add_issue("ACME", "Fix the thing")

    by_key = _get(fake_jira, jira_site, installed, "/rest/api/3/issue/ACME-1")
    by_id = _get(fake_jira, jira_site, installed, f"/rest/api/3/issue/{issue.id}")
    missing = _get(fake_jira, jira_site, installed, "/rest/api/3/issue/ACME-99")

    assert by_key.status == 200
    assert by_key.json() == by_id.json()
    assert by_key.json()["fields"]["summary"] == "Fix the thing"
    assert by_key.json()["fields"]["project"]["key"] == "ACME"
    assert missing.status == 404


def test_unknown_routes_and_methods(fake_jira, jira_site, installed):
    assert _get(fake_jira, jira_site, installed, "/rest/api/3/nothing-here").status == 404
    post = call(fake_jira, jira_site, MYSELF, app_token(secret(jira_site, installed), "POST", MYSELF), method="POST")
    assert post.status == 405
