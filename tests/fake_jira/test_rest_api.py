"""The REST API a typical Connect app calls: users, projects, issues, JQL search, app properties; each call
verified as Jira verifies the app's JWT, and refused with 403 beyond the descriptor's scopes."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from fake_jira import scopes
from fake_jira.messages import Request
from tests.fake_jira.toy_app import DESCRIPTOR_PATH, ToyApp, app_token, toy_descriptor


def connected(fake_jira, site, *declared):
    toy = ToyApp(keys_url=fake_jira.keys_url, descriptor={**toy_descriptor(), "scopes": list(declared)})
    app = fake_jira.connect_app(toy, DESCRIPTOR_PATH)
    assert site.install(app).status == 204
    return app


@pytest.fixture
def writer(fake_jira, jira_site):
    """The toy app with scope WRITE on a site with two projects."""
    jira_site.add_project("WEB", "Website")
    jira_site.add_project("OPS", "Operations")
    return connected(fake_jira, jira_site, "WRITE")


def api(fake, site, app, method, path, body=None, *, token=True):
    """A call as the app makes it: its JWT bound to the method, path and query."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"JWT {app_token(site.installation(app).shared_secret, method, path)}"
    data = json.dumps(body).encode() if body is not None else b""
    return fake.handle(Request(method, site.base_url + path, headers, data))


def create(fake, site, app, summary, project="WEB"):
    response = api(
        fake, site, app, "POST", "/rest/api/3/issue", {"fields": {"project": {"key": project}, "summary": summary}}
    )
    assert response.status == 201, response.text
    return response.json()


def test_users_by_account_id_and_a_page_of_them(fake_jira, jira_site, writer):
    alice = jira_site.add_user("Alice")

    found = api(fake_jira, jira_site, writer, "GET", f"/rest/api/3/user?accountId={alice.account_id}")
    missing = api(fake_jira, jira_site, writer, "GET", "/rest/api/3/user?accountId=nobody")
    page = api(fake_jira, jira_site, writer, "GET", "/rest/api/3/users/search?startAt=1&maxResults=5")

    assert (found.status, found.json()["displayName"]) == (200, "Alice")
    assert missing.status == 404
    assert [user["displayName"] for user in page.json()] == ["Alice"]


def test_a_project_by_key_or_id(fake_jira, jira_site, writer):
    project = jira_site.state.projects["OPS"]

    by_key = api(fake_jira, jira_site, writer, "GET", "/rest/api/3/project/OPS")
    by_id = api(fake_jira, jira_site, writer, "GET", f"/rest/api/3/project/{project.id}")
    missing = api(fake_jira, jira_site, writer, "GET", "/rest/api/3/project/NOPE")

    assert by_key.json() == by_id.json()
    assert by_key.json()["name"] == "Operations"
    assert missing.status == 404
    assert missing.json()["errorMessages"] == ["No project could be found with key 'NOPE'."]


def test_an_issue_created_then_edited(fake_jira, jira_site, writer):
    created = create(fake_jira, jira_site, writer, "Login fails")

    edited = api(
        fake_jira,
        jira_site,
        writer,
        "PUT",
        f"/rest/api/3/issue/{created['key']}",
        {"fields": {"summary": "Login works"}},
    )
    fetched = api(fake_jira, jira_site, writer, "GET", f"/rest/api/3/issue/{created['id']}")

    assert created["key"] == "WEB-1"
    assert edited.status == 204
    fields = fetched.json()["fields"]
    assert fields["summary"] == "Login works"
    assert fields["reporter"]["accountId"] == jira_site.installation(writer).app_user.account_id


@pytest.mark.parametrize(
    ("method", "path", "body", "errors"),
    [
        (
            "POST",
            "/rest/api/3/issue",
            {"fields": {"project": {"key": "WEB"}}},
            {"summary": "You must specify a summary of the issue."},
        ),
        (
            "POST",
            "/rest/api/3/issue",
            {"fields": {"project": {"key": "NOPE"}, "summary": "x"}},
            {"project": "Specify a valid project ID or key"},
        ),
        (
            "PUT",
            "/rest/api/3/issue/WEB-1",
            {"fields": {"priority": {"name": "High"}}},
            {"priority": "Field 'priority' cannot be set. It is not on the appropriate screen, or unknown."},
        ),
    ],
)
def test_invalid_fields_are_refused_in_jiras_shape(fake_jira, jira_site, writer, method, path, body, errors):
    create(fake_jira, jira_site, writer, "Existing")

    response = api(fake_jira, jira_site, writer, method, path, body)

    assert response.status == 400
    assert response.json() == {"errorMessages": [], "errors": errors}
    assert jira_site.state.issues["WEB-1"].summary == "Existing"


def test_a_call_beyond_the_descriptors_scopes_gets_403_and_changes_nothing(fake_jira, jira_site):
    jira_site.add_project("WEB", "Website")
    reader = connected(fake_jira, jira_site, "READ")

    refused = api(
        fake_jira,
        jira_site,
        reader,
        "POST",
        "/rest/api/3/issue",
        {"fields": {"project": {"key": "WEB"}, "summary": "x"}},
    )
    allowed = api(fake_jira, jira_site, reader, "GET", "/rest/api/3/project/WEB")

    assert refused.status == 403
    assert refused.json()["errorMessages"] == [
        "the app 'toy-connect-app' may not make this call: it needs scope WRITE, and the app's descriptor grants READ"
    ]
    assert jira_site.state.issues == {}
    assert allowed.status == 200


def test_an_app_without_scopes_may_only_use_its_own_properties(fake_jira, jira_site):
    bare = connected(fake_jira, jira_site)

    assert api(fake_jira, jira_site, bare, "GET", "/rest/api/3/myself").status == 403
    assert (
        api(fake_jira, jira_site, bare, "PUT", f"/rest/atlassian-connect/1/addons/{bare.key}/properties/k", 1).status
        == 201
    )


@pytest.mark.parametrize(
    ("declared", "granted"),
    [
        (["READ"], {"READ"}),
        (["delete"], {"READ", "WRITE", "DELETE"}),
        (["ADMIN", "ACT_AS_USER"], {"READ", "WRITE", "DELETE", "PROJECT_ADMIN", "ADMIN", "ACT_AS_USER"}),
        (["ACT_AS_USER"], {"ACT_AS_USER"}),
        ([], set()),
    ],
)
def test_each_scope_implies_the_lesser_ones(declared, granted):
    assert scopes.granted(declared) == granted


def search(fake, site, app, jql, **params):
    query = "&".join([f"jql={quote(jql, safe='')}", *(f"{name}={value}" for name, value in params.items())])
    return api(fake, site, app, "GET", f"/rest/api/3/search/jql?{query}")


def test_search_by_jql_filters_orders_and_pages(fake_jira, jira_site, writer):
    for summary in ("Login fails", "Logout slow", "login page typo"):
        create(fake_jira, jira_site, writer, summary)
    create(fake_jira, jira_site, writer, "Login on the ops console", project="OPS")

    first = search(fake_jira, jira_site, writer, 'project = web AND summary ~ "LOGIN" ORDER BY key DESC', maxResults=1)
    second = search(
        fake_jira,
        jira_site,
        writer,
        'project = web AND summary ~ "LOGIN" ORDER BY key DESC',
        maxResults=1,
        nextPageToken=first.json()["nextPageToken"],
    )
    posted = api(
        fake_jira,
        jira_site,
        writer,
        "POST",
        "/rest/api/3/search/jql",
        {"jql": "key in (WEB-2, OPS-1) AND reporter = currentUser()"},
    )

    assert [issue["key"] for issue in first.json()["issues"]] == ["WEB-3"]
    assert first.json()["isLast"] is False
    assert [issue["key"] for issue in second.json()["issues"]] == ["WEB-1"]
    assert second.json()["isLast"] is True
    assert "nextPageToken" not in second.json()
    assert [issue["key"] for issue in posted.json()["issues"]] == ["WEB-2", "OPS-1"]


@pytest.mark.parametrize(
    ("jql", "problem"),
    [
        ("project = WEB OR project = OPS", "expecting 'AND' or 'ORDER BY' before 'OR'"),
        ("assignee = x", "the field 'assignee' is not supported"),
        ("", "Unbounded JQL queries are not allowed here"),
        ("order by key", "Unbounded JQL queries are not allowed here"),
        ('summary = "open', "is not expected"),
    ],
)
def test_jql_outside_the_subset_is_a_400_that_says_why(fake_jira, jira_site, writer, jql, problem):
    response = search(fake_jira, jira_site, writer, jql)

    assert response.status == 400
    [message] = response.json()["errorMessages"]
    assert message.startswith("Error in the JQL Query: ")
    assert problem in message


def test_app_properties_are_the_apps_own_on_each_site(fake_jira, jira_site, writer):
    properties = f"/rest/atlassian-connect/1/addons/{writer.key}/properties"
    other_site = fake_jira.add_site("globex")
    other_site.install(writer)

    created = api(fake_jira, jira_site, writer, "PUT", f"{properties}/settings", {"theme": "dark"})
    updated = api(fake_jira, jira_site, writer, "PUT", f"{properties}/settings", {"theme": "light"})
    read = api(fake_jira, jira_site, writer, "GET", f"{properties}/settings")
    listed = api(fake_jira, jira_site, writer, "GET", properties)
    elsewhere = api(fake_jira, other_site, writer, "GET", f"{properties}/settings")
    foreign = api(fake_jira, jira_site, writer, "GET", "/rest/atlassian-connect/1/addons/another-app/properties")
    deleted = api(fake_jira, jira_site, writer, "DELETE", f"{properties}/settings")
    gone = api(fake_jira, jira_site, writer, "GET", f"{properties}/settings")

    assert (created.status, updated.status) == (201, 200)
    assert read.json() == {
        "key": "settings",
        "value": {"theme": "light"},
        "self": f"{jira_site.base_url}{properties}/settings",
    }
    assert [entry["key"] for entry in listed.json()["keys"]] == ["settings"]
    assert (elsewhere.status, foreign.status, deleted.status, gone.status) == (404, 403, 204, 404)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/rest/api/3/user?accountId=x"),
        ("GET", "/rest/api/3/users/search"),
        ("GET", "/rest/api/3/project/WEB"),
        ("POST", "/rest/api/3/issue"),
        ("PUT", "/rest/api/3/issue/WEB-1"),
        ("GET", "/rest/api/3/search/jql?jql=project%20%3D%20WEB"),
        ("POST", "/rest/api/3/search/jql"),
        ("GET", "/rest/atlassian-connect/1/addons/toy-connect-app/properties"),
        ("PUT", "/rest/atlassian-connect/1/addons/toy-connect-app/properties/k"),
        ("DELETE", "/rest/atlassian-connect/1/addons/toy-connect-app/properties/k"),
    ],
)
def test_every_route_needs_the_apps_jwt(fake_jira, jira_site, writer, method, path):
    unsigned = api(fake_jira, jira_site, writer, method, path, {}, token=False)
    # A token for another request: its qsh does not match this one.
    other = app_token(jira_site.installation(writer).shared_secret, "GET", "/rest/api/3/myself")
    mismatched = fake_jira.handle(Request(method, jira_site.base_url + path, {"Authorization": f"JWT {other}"}, b"{}"))

    assert (unsigned.status, mismatched.status) == (401, 401)
