"""JSON from outside (token segments, lifecycle and webhook bodies) is parsed within bounds: a 4xx, never a 500."""

from __future__ import annotations

import json
import math

import pytest

from jira_app import bodies, exceptions
from jira_app.models import AtlassianHost, LifecycleEvent, WebhookDelivery
from tests.signing import host_token

pytestmark = pytest.mark.django_db

DEEP_LIST = b"[" * 3000 + b"]" * 3000
DEEP_OBJECT = b'{"a":' * 3000 + b"1" + b"}" * 3000

# Each a body the standard parser accepts (or crashes on), that no database or strict reader takes.
HOSTILE_JSON = {
    "3000 levels of lists": b'{"a": ' + DEEP_LIST + b"}",
    "3000 levels of objects": DEEP_OBJECT,
    "65 levels": b'{"a": ' + b"[" * 64 + b"]" * 64 + b"}",
    "NaN": b'{"a": NaN}',
    "Infinity": b'{"a": Infinity}',
    "-Infinity": b'{"a": -Infinity}',
    "overflowing float": b'{"a": 1e999}',
    "lone surrogate in a value": b'{"a": "\\ud800"}',
    "lone surrogate in a key": b'{"\\udfff": 1}',
    "NUL in a value": b'{"a": "x\\u0000y"}',
    "NUL in a key": b'{"\\u0000": 1}',
}


@pytest.mark.parametrize("case", HOSTILE_JSON)
def test_hostile_json_is_refused_with_the_callers_error(case):
    with pytest.raises(exceptions.BadWebhookPayload, match="not valid JSON"):
        bodies.json_object(HOSTILE_JSON[case], max_bytes=1 << 20, error=exceptions.BadWebhookPayload)


@pytest.mark.parametrize(
    ("case", "says"),
    [
        ("3000 levels of lists", "the JSON nests deeper than 64 levels"),
        ("65 levels", "the JSON nests deeper than 64 levels"),
        ("NaN", "NaN is not a JSON number"),
        ("-Infinity", "-Infinity is not a JSON number"),
        ("overflowing float", "the JSON holds a number too large for a float"),
        ("lone surrogate in a key", "the JSON holds a lone surrogate (an unpaired \\ud800-\\udfff escape)"),
        ("NUL in a value", "the JSON holds a NUL character (\\u0000)"),
    ],
)
def test_the_refusal_says_what_is_wrong_with_the_json(case, says):
    with pytest.raises(exceptions.BadWebhookPayload) as refused:
        bodies.json_object(HOSTILE_JSON[case], max_bytes=1 << 20, error=exceptions.BadWebhookPayload)
    assert refused.value.message == f"the body is not valid JSON: {says}"


def test_json_that_is_not_an_object_is_refused_saying_so():
    with pytest.raises(exceptions.BadWebhookPayload) as refused:
        bodies.json_object(b"[1, 2]", max_bytes=1 << 20, error=exceptions.BadWebhookPayload)
    assert refused.value.message == "the body is not a JSON object"


@pytest.mark.parametrize(("document", "value"), [(b"1", 1), (b'"text"', "text"), (b"null", None), (b"[]", [])])
def test_a_document_that_is_a_single_value_is_parsed(document, value):
    assert bodies.loads(document) == value


@pytest.mark.parametrize("document", [b'"a\\u0000b"', b'"\\ud800"', b"1e999"])
def test_a_single_value_is_checked_too(document):
    with pytest.raises(ValueError, match=r"^the JSON holds "):
        bodies.loads(document)


def test_json_within_bounds_is_parsed_as_the_standard_parser_does():
    document = {"a": [1, 2.5, -3e10, None, True, "é😀", {"b": [[[]]]}], "c": "x" * 1000}
    nested = document
    for _ in range(57):  # and the document's own 6 levels: 63
        nested = {"n": nested}
    text = json.dumps(nested, ensure_ascii=False)
    assert bodies.loads(text.encode()) == json.loads(text)
    assert bodies.loads(b'{"a": ' + b"[" * 63 + b"]" * 63 + b"}") is not None  # 64 levels: the most allowed
    assert bodies.loads(b'{"a": 1e308}')["a"] == 1e308
    assert math.isfinite(bodies.loads(b"[-1e308]")[0])


@pytest.mark.parametrize("case", HOSTILE_JSON)
def test_hostile_webhook_body_is_a_400_and_not_stored(jira, installed_site, case):
    response = jira.webhook(installed_site, body=HOSTILE_JSON[case])

    assert response.status_code == 400
    assert response.json()["error"] == "bad_webhook"
    assert not WebhookDelivery.objects.exists()


def lifecycle_body(site, event: str, hostile: bytes) -> bytes:
    """A real lifecycle body with the hostile value spliced into one extra field."""
    return site.lifecycle_body(event)[:-1] + b', "extra": ' + hostile + b"}"


@pytest.mark.parametrize("case", HOSTILE_JSON)
@pytest.mark.parametrize("event", ["installed", "uninstalled"])
def test_hostile_signed_install_body_is_a_400_and_changes_nothing(jira, install_signer, installed_site, case, event):
    token = install_signer.token(installed_site.client_key, f"/jira/{event}")
    before = list(AtlassianHost.objects.values())

    response = jira.client.post(
        f"/jira/{event}",
        lifecycle_body(installed_site, event, HOSTILE_JSON[case]),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"JWT {token}",
    )

    assert response.status_code == 400
    assert response.json()["error"] == "bad_payload"
    assert list(AtlassianHost.objects.values()) == before
    assert LifecycleEvent.objects.count() == 1


@pytest.mark.parametrize("case", HOSTILE_JSON)
@pytest.mark.parametrize("event", ["enabled", "disabled"])
def test_hostile_enable_body_is_a_400_and_changes_nothing(jira, installed_site, case, event):
    token = host_token(installed_site.client_key, installed_site.secret, "POST", f"/jira/{event}")

    response = jira.client.post(
        f"/jira/{event}",
        lifecycle_body(installed_site, event, HOSTILE_JSON[case]),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"JWT {token}",
    )

    assert response.status_code == 400
    assert response.json()["error"] == "bad_payload"
    assert AtlassianHost.objects.get().enabled
    assert LifecycleEvent.objects.count() == 1
