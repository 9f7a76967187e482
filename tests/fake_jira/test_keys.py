from __future__ import annotations

import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from fake_jira.keys import InstallKeyService
from fake_jira.messages import Request


def _fetch(fake, kid):
    return fake.handle(Request("GET", f"{fake.keys_url}/{kid}"))


def test_the_service_serves_the_current_keys_pem(fake_jira):
    key = fake_jira.keys.current

    response = _fetch(fake_jira, key.kid)

    assert response.status == 200
    assert response.text == key.public_pem
    public = load_pem_public_key(response.body)
    assert isinstance(public, RSAPublicKey)
    assert public.key_size == 2048


def test_kids_look_like_modern_atlassian_kids():
    kid = InstallKeyService().current.kid

    assert kid.startswith("fake-jira/")
    assert kid.count("/") == 2
    with pytest.raises(ValueError, match="badly formed"):
        uuid.UUID(kid)


@pytest.mark.parametrize("kid", ["fake-jira/unknown/01", "nope", "../../etc/passwd"])
def test_unknown_kids_get_404(fake_jira, kid):
    fake_jira.keys.current  # noqa: B018 - a known key exists, and still the others are unknown

    assert _fetch(fake_jira, kid).status == 404


def test_rotation_gives_a_new_kid_and_keeps_serving_the_old_one(fake_jira):
    old = fake_jira.keys.current

    new = fake_jira.keys.rotate()

    assert new.kid != old.kid
    assert new.public_pem != old.public_pem
    assert fake_jira.keys.current == new
    assert _fetch(fake_jira, old.kid).status == 200
    assert _fetch(fake_jira, new.kid).status == 200


def test_a_retired_kid_is_no_longer_served(fake_jira):
    old = fake_jira.keys.current
    fake_jira.keys.rotate()

    fake_jira.keys.retire(old.kid)

    assert _fetch(fake_jira, old.kid).status == 404
    assert old.kid not in fake_jira.keys.kids


def test_kids_never_repeat_but_keys_are_reused_across_simulators():
    first, second = InstallKeyService(), InstallKeyService()

    assert first.current.kid != second.current.kid
    # The pool spares each simulator the RSA key generation.
    assert first.current.private_key is second.current.private_key


def test_the_key_service_only_answers_get(fake_jira):
    response = fake_jira.handle(Request("POST", f"{fake_jira.keys_url}/{fake_jira.keys.current.kid}"))

    assert response.status == 405
