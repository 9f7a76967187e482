"""A tenant's site URLs as the app reads them: one parser for the install check, the REST client and the CSP."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests

from jira_app import hosts


@pytest.fixture(autouse=True)
def _production_rules(settings):
    settings.ATLASSIAN_CONNECT_ALLOW_LOOPBACK_SITES = False


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://acme.atlassian.net", "https://acme.atlassian.net"),
        ("https://ACME.Atlassian.NET/", "https://acme.atlassian.net"),
        ("https://acme.atlassian.net/wiki/", "https://acme.atlassian.net/wiki"),
        ("https://acme.atlassian.net:8443/jira", "https://acme.atlassian.net:8443/jira"),
    ],
)
def test_a_site_url_is_rebuilt_from_its_checked_parts(value, expected):
    assert hosts.parse(value).url == expected


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("http://acme.atlassian.net", "not https"),
        ("ftp://acme.atlassian.net", "not an absolute https URL"),
        ("https://user:pass@acme.atlassian.net", "user name or password"),
        ("https://@acme.atlassian.net", "user name or password"),
        ("https://acme.atlassian.net:99999", "bad host or port"),
        ("https://acme.atlassian.net:0", "port 0"),
        ("http://[::1", "bad host or port"),
        ("https://acme.atlassian.net/?x=1", "query or fragment"),
        ("https://acme.atlassian.net/#top", "query or fragment"),
        ("https://acme.atlassian.net.", "ends its host name with a dot"),
        ("http://127.0.0.1:19620\\@x.atlassian.net", "never has"),
        ("https://x.example;report-uri https://evil.example", "never has"),
        ("https://x.example;report-uri/csp", "not a DNS name"),
        ("https://x.example,evil.example", "not a DNS name"),
        ("https://x_y.atlassian.net", "not a DNS name"),
        ("https://x..atlassian.net", "not a DNS name"),
        ("https://-x.atlassian.net", "not a DNS name"),
        ("https://acme.atlassian.net\n", "never has"),
        ("https://bücher.example", "never has"),
        ("https://127.0.0.1", "IP address"),
        ("https://[::1]:8443", "IP address"),
        ("https://169.254.169.254", "IP address"),
        ("https://2130706433", "IP address"),
        ("https://0x7f.1", "IP address"),
        ("/rest/api", "not an absolute https URL"),
        ("", "not a URL"),
    ],
)
def test_a_url_the_app_would_not_call_is_refused_saying_why(value, why):
    with pytest.raises(hosts.InvalidSiteUrl, match=why):
        hosts.parse(value, field="baseUrl")


def test_the_backslash_bypass_would_have_sent_requests_to_loopback():
    # Why one parser: urllib.parse sees x.atlassian.net here, the library that sends the request sees 127.0.0.1.
    prepared = requests.Request("GET", "http://127.0.0.1:19620\\@x.atlassian.net/rest").prepare()
    assert prepared.url.startswith("http://127.0.0.1:19620/")
    with pytest.raises(hosts.InvalidSiteUrl):
        hosts.parse("http://127.0.0.1:19620\\@x.atlassian.net")


def test_loopback_sites_over_http_only_where_the_setting_allows_them(settings):
    with pytest.raises(hosts.InvalidSiteUrl):
        hosts.parse("http://127.0.0.1:8002/sites/acme")

    settings.ATLASSIAN_CONNECT_ALLOW_LOOPBACK_SITES = True

    assert hosts.parse("http://127.0.0.1:8002/sites/acme").origin == "http://127.0.0.1:8002"
    assert hosts.parse("http://[::1]:8002").origin == "http://[::1]:8002"
    assert hosts.parse("http://localhost:8002").origin == "http://localhost:8002"
    for elsewhere in ("http://acme.atlassian.net", "https://10.0.0.5", "https://169.254.169.254"):
        with pytest.raises(hosts.InvalidSiteUrl):
            hosts.parse(elsewhere)


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("acme.atlassian.net", True),
        ("acme.jira.com", True),
        ("atlassian.net", False),
        ("acme.atlassian.net.evil.example", False),
        ("evilatlassian.net", False),
    ],
)
def test_allowed_hosts_are_matched_on_the_parsed_host(settings, host, allowed):
    settings.ATLASSIAN_CONNECT_ALLOWED_HOSTS = ["*.atlassian.net", "*.JIRA.com"]
    site = hosts.parse(f"https://{host}/wiki")
    if allowed:
        hosts.require_allowed(site)
    else:
        with pytest.raises(hosts.InvalidSiteUrl, match="ATLASSIAN_CONNECT_ALLOWED_HOSTS"):
            hosts.require_allowed(site)


def test_outside_dev_and_test_only_atlassian_domains_are_allowed_by_default(settings):
    del settings.ATLASSIAN_CONNECT_ALLOWED_HOSTS
    settings.ENVIRONMENT = "prod"
    hosts.require_allowed(hosts.parse("https://acme.atlassian.net"))
    hosts.require_allowed(hosts.parse("https://acme.jira.com"))
    with pytest.raises(hosts.InvalidSiteUrl, match=r"^'baseUrl' host 'evil\.example\.com' is not in ATLASSIAN_"):
        hosts.require_allowed(hosts.parse("https://evil.example.com"))


@pytest.mark.parametrize(
    "value",
    [
        "https://acme.atlassian.net",
        "https://ACME.atlassian.net:443/wiki",
        "https://acme.atlassian.net:8443/a%20b/~c/",
        "https://xn--bcher-kva.atlassian.net/jira",
        "https://a-b.c-d.atlassian.net/x;y=z",
    ],
)
def test_a_stored_url_reads_the_same_to_every_parser(value):
    # The rebuilt URL is what the client sends and the CSP names: urllib.parse and requests must agree on it.
    site = hosts.parse(value)
    sent = requests.Request("GET", site.url + "/rest/api/3/myself").prepare().url
    for parts in (urlsplit(site.url), urlsplit(sent)):
        assert (parts.scheme, parts.hostname, parts.port) == (site.scheme, site.host, site.port)
    assert hosts.parse(site.url) == site


@pytest.mark.parametrize("value", ["https://0x7f000001", "https://acme.0x7f000001", "https://ACME.0X7F000001"])
def test_a_hexadecimal_last_label_is_an_ip_address(settings, value):
    # inet_aton reads 0x7f000001 as 127.0.0.1: such a "name" is refused as the address it spells.
    settings.ATLASSIAN_CONNECT_ALLOW_LOOPBACK_SITES = False
    with pytest.raises(hosts.InvalidSiteUrl, match=r"^'baseUrl' names an IP address, not a Jira Cloud site$"):
        hosts.parse(value)


def test_the_field_named_by_default_is_base_url():
    with pytest.raises(hosts.InvalidSiteUrl, match=r"^'baseUrl' is not an absolute https URL$"):
        hosts.parse("ftp://acme.atlassian.net")


def test_a_url_of_every_allowed_character_passes_the_character_check():
    # All of them at once is still within the set: it is refused for what it holds (an "@"), not for a character.
    every_allowed = "".join(sorted(hosts._URL_CHARACTERS))
    with pytest.raises(hosts.InvalidSiteUrl, match=r"^'baseUrl' holds a user name or password$"):
        hosts.parse("https://acme.atlassian.net/" + every_allowed)
