"""The bench's ACE servers (benchmarks/peers.py) on the npm-installed app: single and under node cluster x2, one
store on PostgreSQL that the single process writes the tenants into (ACE_STORE_SEED) and every cluster worker
reads, answering the bench's page loads, with the same tokens fake_jira signs and qsh bound to ACE's own base URL.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest
import requests

from benchmarks import peers, workload
from fake_jira import tokens
from fake_jira.simulator import FakeJira
from tests.dependencies import missing

TENANTS = 3


@pytest.fixture(scope="module")
def ace(tmp_path_factory) -> Iterator[list[peers.AcePeer]]:
    fake = FakeJira()
    sites = [fake.add_site(f"bench-{index}") for index in range(TENANTS)]
    database = peers.database_server(os.environ.get("DATABASE_URL", ""))
    try:
        peers.require_database_server(database)
    except SystemExit as error:
        missing("PostgreSQL for ACE's store", str(error))
    with peers.start(peers.ace_dir(), fake, sites, tmp_path_factory.mktemp("ace"), database) as found:
        yield found


def test_single_and_cluster_run_as_the_bench_names_them(ace):
    assert [(peer.server.name, peer.server.workers) for peer in ace] == [("ace_single", None), ("ace_cluster", 2)]
    assert all(peer.server.cpu_seconds() > 0 for peer in ace)


def test_every_worker_knows_every_tenant_the_single_process_stored(ace):
    # The cluster's workers were given no seed: they answer from the store the single process wrote. A new
    # connection per request: the cluster's primary hands them to its workers in turn, so each one answers.
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
