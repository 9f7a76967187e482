from __future__ import annotations

import pytest

from fake_jira.descriptor import check_descriptor
from fake_jira.exceptions import DescriptorError, FakeJiraError
from fake_jira.messages import Response
from tests.fake_jira.toy_app import DESCRIPTOR_PATH, toy_descriptor


class Serving:
    """An app that only serves a descriptor."""

    def __init__(self, response):
        self.response = response

    def send(self, method, target, *, headers, body=b""):
        return self.response


def test_a_good_descriptor_has_no_problems():
    assert check_descriptor(toy_descriptor()) == []


def test_a_broken_descriptor_gets_one_sentence_per_problem():
    broken = {
        "key": "has spaces",
        "baseUrl": "ftp://app.example.com",
        "authentication": {"type": "none"},
        "apiMigrations": {"signed-install": False},
        "lifecycle": {"installed": "https://elsewhere.example.com/installed"},
        "modules": {
            "generalPages": [{"key": "p", "url": "https://app.example.com/page"}],
            "webhooks": [{"url": "/hook"}],
            "configurePage": {"key": "c", "url": "//cdn.example.com/x"},
            "webItems": [{"key": "link", "url": "https://docs.example.com"}],
        },
    }

    problems = check_descriptor(broken)

    assert problems == [
        "'key' 'has spaces' must be 1 to 64 letters, digits, '.', '_' or '-'",
        "'baseUrl' is 'ftp://app.example.com', not an absolute http(s) URL: Jira sends every request to baseUrl "
        "+ a path from the descriptor",
        "'authentication.type' is 'none', not 'jwt': Jira would send no sharedSecret and sign nothing",
        "'apiMigrations.signed-install' is not true: installs would be signed with a shared secret, which allows "
        "the tenant-takeover attack (docs/mistakes.md)",
        "'apiMigrations.context-qsh' is not true: context tokens would carry no qsh and could be replayed against "
        "any of the app's routes (docs/protocol.md §5)",
        "'lifecycle.uninstalled' is missing: Jira would never tell the app it was uninstalled",
        "'lifecycle.installed' is 'https://elsewhere.example.com/installed', not a path relative to baseUrl "
        "(write it as '/installed')",
        "'modules.generalPages[0].url' is 'https://app.example.com/page', not a path relative to baseUrl "
        "(it must start with '/')",
        "'modules.webhooks[0].event' is missing: Jira cannot tell which event the webhook is for",
        "'modules.configurePage.url' is '//cdn.example.com/x', not a path relative to baseUrl (it must start with '/')",
    ]


@pytest.mark.parametrize(
    ("descriptor", "expected"),
    [
        ([], ["the descriptor is not a JSON object"]),
        ({**toy_descriptor(), "key": ""}, ["'key' is missing"]),
        ({**toy_descriptor(), "baseUrl": "https://app.example.com/?x=1"}, ["has a query or fragment"]),
        ({**toy_descriptor(), "lifecycle": None}, ["'lifecycle' is missing"]),
        ({**toy_descriptor(), "modules": []}, ["'modules' is not an object"]),
        ({**toy_descriptor(), "modules": {"webhooks": [{"event": "jira:issue_created"}]}}, ["url' is missing"]),
    ],
)
def test_each_problem_is_found(descriptor, expected):
    problems = check_descriptor(descriptor)

    assert len(problems) == len(expected)
    assert all(fragment in problem for fragment, problem in zip(expected, problems, strict=True))


def test_connect_app_refuses_a_broken_descriptor_with_its_problems(fake_jira):
    broken = {**toy_descriptor(), "apiMigrations": {}}

    with pytest.raises(DescriptorError) as refused:
        fake_jira.connect_app(Serving(Response.from_json(200, broken)), DESCRIPTOR_PATH)

    assert len(refused.value.problems) == 2
    assert str(refused.value).startswith(f"the descriptor at {DESCRIPTOR_PATH} would not install:\n- ")


@pytest.mark.parametrize(
    ("response", "problem"),
    [
        (Response(404), "answered HTTP 404, not 200"),
        (Response.from_text(200, "<html>"), "not JSON"),
    ],
)
def test_connect_app_needs_a_json_descriptor(fake_jira, response, problem):
    with pytest.raises(DescriptorError, match=problem):
        fake_jira.connect_app(Serving(response))


def test_the_app_knows_its_urls_from_the_descriptor(app):
    assert (app.key, app.name, app.base_path) == ("toy-connect-app", "Toy app", "/toy")
    assert app.target(app.module_url("hello")) == "/toy/hello?project={project.key}"
    assert app.lifecycle_url("enabled") == "/enabled"
    assert app.webhook_urls("jira:issue_created") == ["/webhooks/issue-created"]


def test_an_unknown_module_lists_the_known_ones(app):
    with pytest.raises(FakeJiraError, match=r"no module 'nope' with a url; it has \['hello'\]"):
        app.module_url("nope")
