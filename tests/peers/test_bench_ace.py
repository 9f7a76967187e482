"""The bench's ACE servers (benchmarks/peers.py) on the npm-installed app: single and under node cluster x2, each
process seeded with the tenants (memory-store.js, ACE_STORE_SEED), answering the bench's page loads, with the
same tokens fake_jira signs and qsh bound to ACE's own base URL.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
import requests

from benchmarks import peers, workload
from fake_jira import tokens
from fake_jira.simulator import FakeJira

TENANTS = 3


@pytest.fixture(scope="module")
def ace(tmp_path_factory) -> Iterator[list[peers.AcePeer]]:
    fake = FakeJira()
    sites = [fake.add_site(f"bench-{index}") for index in range(TENANTS)]
    with peers.start(peers.ace_dir(), fake, sites, tmp_path_factory.mktemp("ace")) as found:
        yield found


def test_single_and_cluster_run_as_the_bench_names_them(ace):
    assert [(peer.server.name, peer.server.workers) for peer in ace] == [("ace_single", None), ("ace_cluster", 2)]
    assert all(peer.server.cpu_seconds() > 0 for peer in ace)


def test_every_worker_knows_every_seeded_tenant(ace):
    # A new connection per request: the cluster's primary hands them to its workers in turn, so each worker
    # answers for every tenant.
    for peer in ace:
        loads = list(itertools.islice(workload.page_loads(peer.tenants), TENANTS * 4))
        answers = [requests.get(peer.server.url + load.target, timeout=10) for load in loads]

        assert [answer.status_code for answer in answers] == [200] * len(loads)
        assert [answer.json()["clientKey"] for answer in answers[:TENANTS]] == [
            tenant.site.client_key for tenant in peer.tenants
        ]


def test_a_page_load_whose_qsh_names_another_query_is_refused(ace):
    peer = ace[1]
    tenant = peer.tenants[0]
    path = tenant.app.target(tenant.app.module_url(workload.PAGE_MODULE))
    spec = tokens.TokenSpec("HS256", tenant.secret, tenant.site.client_key, "someone", tokens.QshTarget("GET", path))

    answer = requests.get(f"{peer.server.url}{path}?lic=active&jwt={tokens.mint(spec)}", timeout=10)

    assert answer.status_code == 401
