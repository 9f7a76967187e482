"""The bench's side of the comparison with atlassian-connect-express (benchmarks/peers.py), without Node: what
ACE is seeded with, what its environment may not carry, where its scenarios run and what the report makes of
them. tests/peers/test_bench_ace.py runs ACE itself (nox -s check_peers).
"""

from __future__ import annotations

import sys

import pytest

from benchmarks import peers, report, run
from fake_jira.simulator import FakeJira


def test_each_site_is_seeded_with_what_aces_authenticate_reads_and_a_secret_of_its_own():
    fake = FakeJira()
    sites = [fake.add_site("one"), fake.add_site("two")]

    infos = peers.client_infos(sites, "ace-key")

    assert [(i["clientKey"], i["baseUrl"], i["key"]) for i in infos] == [
        (site.client_key, site.base_url, "ace-key") for site in sites
    ]
    assert all(info["productType"] == "jira" and info["eventType"] == "installed" for info in infos)
    assert len({info["sharedSecret"] for info in infos}) == 2
    assert all(len(info["sharedSecret"]) >= 32 for info in infos)


def test_aces_own_settings_in_the_callers_environment_do_not_reach_it(monkeypatch, tmp_path):
    monkeypatch.setenv("AC_OPTS", "no-auth")  # would turn ACE's authenticate() off
    monkeypatch.setenv("ACE_STORE_SEED", "/elsewhere.json")
    monkeypatch.setenv("NODE_ENV", "development")
    monkeypatch.setenv("DB_URL", "postgres://elsewhere/db")  # ACE's Sequelize store would prefer it to the config
    store = "postgresql://postgres@127.0.0.1:5432/ace"

    seeded = peers.AceServer(
        "ace_single", tmp_path, database_url=store, seed=tmp_path / "seed.json", workers=None, log_dir=tmp_path
    )
    server = peers.AceServer("ace_cluster", tmp_path, database_url=store, seed=None, workers=2, log_dir=tmp_path)
    environment = server._environment

    assert seeded._environment["ACE_STORE_SEED"] == str(tmp_path / "seed.json")
    assert "AC_OPTS" not in environment
    assert "ACE_STORE_SEED" not in environment
    assert "DB_URL" not in environment
    assert environment["DATABASE_URL"] == store  # config.json's production store
    assert environment["NODE_ENV"] == "production"
    assert environment["AC_LOCAL_BASE_URL"] == server.url  # the base ACE computes qsh against
    assert environment["ACE_WORKERS"] == "2"


def test_aces_store_goes_on_the_runs_postgresql_or_else_the_local_one():
    assert peers.database_server("postgres://bench@db.example:5433/app") == "postgres://bench@db.example:5433/app"
    assert peers.database_server("sqlite:////tmp/app.sqlite3") == peers.DEFAULT_DATABASE_SERVER
    assert peers.database_server("") == peers.DEFAULT_DATABASE_SERVER


@pytest.mark.postgresql  # psycopg, the postgres extra: nox -s tests_postgres
def test_no_postgresql_for_aces_store_stops_the_run_saying_what_to_do_without_the_password():
    with pytest.raises(SystemExit) as stopped:
        peers.require_database_server("postgresql://bench:hunter2@127.0.0.1:1/app")

    message = str(stopped.value)
    assert message.startswith("--peers: ACE's store is PostgreSQL (Sequelize, as ACE deploys it), and ")
    assert "postgresql://127.0.0.1:1/app did not answer" in message
    assert message.endswith("start PostgreSQL there, or run with DATABASE_URL naming a server")
    assert "hunter2" not in message


def test_without_psycopg_the_run_stops_saying_which_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if the postgres extra were not installed

    with pytest.raises(SystemExit, match=r"ACE's store is PostgreSQL: pip install -e '\.\[bench,postgres\]'"):
        peers.require_database_server(peers.DEFAULT_DATABASE_SERVER)


def test_peers_without_an_installed_ace_stop_the_run_saying_how_to_get_one(monkeypatch, tmp_path):
    monkeypatch.setenv(peers.ACE_DIR_VARIABLE, str(tmp_path))  # no node_modules there

    with pytest.raises(SystemExit, match="nox -s bench_peers"):
        peers.ace_dir()


def test_the_ace_scenarios_run_right_after_the_page_loads_they_are_compared_with(tmp_path):
    def ace(name, workers):
        server = peers.AceServer(name, tmp_path, database_url="", seed=None, workers=workers, log_dir=tmp_path)
        return peers.AcePeer(server, [])

    bench = run.Bench(
        workdir=tmp_path,
        database="",
        fake=FakeJira(),
        bare=None,
        small=None,
        tenants=[],
        installers=[],
        large=None,
        ace=[ace("ace_single", None), ace("ace_cluster", 2)],
    )

    scenarios = bench.scenarios(0)

    assert [(s.key, s.name) for s in scenarios][2:5] == [("b", "page"), ("g", "ace_single"), ("h", "ace_cluster")]
    assert scenarios[4].label.endswith("node cluster x2")
    assert scenarios[3].server is bench.ace[0].server


def test_the_document_compares_the_page_with_ace_single_and_cluster():
    def scenario(key, name, rate, cpu):
        return report.ScenarioResult(key, name, name, "req/s", [report.Round(rate, int(rate), 0, 0, cpu, False)], None)

    results = report.Results(
        machine={},
        method={},
        scenarios=[
            scenario("h", "ace_cluster", 2000.0, 800.0),
            scenario("b", "page", 1500.0, 1000.0),
            scenario("g", "ace_single", 1000.0, 600.0),
        ],
    )

    document = results.document()

    assert document["ratios"]["page_vs_ace_cluster"] == 0.75
    assert document["ratios"]["page_vs_ace_single"] == 1.5
    assert document["cpu_ratios"]["page_vs_ace_cluster"] == 0.8
    assert document["figures"]["g_ace_single_rps"] == 1000.0
    assert document["figures"]["h_ace_cluster_rps"] == 2000.0
    assert document["targets"]["page_vs_ace_cluster"] == 1.05
    assert list(document["scenarios"]) == ["page", "ace_single", "ace_cluster"]
    assert any(
        line.startswith("page_vs_ace_cluster (page/ace_cluster): 0.750 BELOW TARGET")
        for line in report.ratio_lines(document)
    )
