from __future__ import annotations

import inspect

import pytest
import requests
import responses

from fake_jira import FakeJira, mock_jira


def _key_status(fake):
    return requests.get(f"{fake.keys_url}/{fake.keys.current.kid}", timeout=5).status_code


def test_as_a_context_manager():
    # An empty mock outside catches whatever mock_jira stops answering, so nothing leaves the machine.
    with responses.RequestsMock() as outside:
        with mock_jira() as fake:
            assert isinstance(fake, FakeJira)
            fake.add_site("acme")
            assert _key_status(fake) == 200

        assert fake.sites == []  # reset on exit
        with pytest.raises(requests.ConnectionError, match="Connection refused by Responses"):
            _key_status(fake)
        assert len(outside.calls) == 1


@mock_jira
def test_as_a_decorator_the_fake_comes_last(fake):
    assert isinstance(fake, FakeJira)
    assert _key_status(fake) == 200


def test_the_decorator_hides_its_argument_from_pytest():
    @mock_jira
    def needs_a_fixture(tmp_path, fake):
        return fake

    assert list(inspect.signature(needs_a_fixture).parameters) == ["tmp_path"]
    assert isinstance(needs_a_fixture("somewhere"), FakeJira)


def test_nesting_joins_the_active_simulator():
    with mock_jira() as outer:
        outer.add_site("acme")
        with mock_jira() as inner:
            assert inner is outer
        assert outer.site("acme")  # the inner exit neither reset nor unrouted
        assert _key_status(outer) == 200


def test_the_fixture_and_the_decorator_share_one_simulator(fake_jira):
    @mock_jira
    def inside(fake):
        return fake

    assert inside() is fake_jira
