"""The measuring side of benchmarks/: ratios, memory readings, request lines and the profile breakdown.

These are the parts of the bench whose mistakes would not show as a failed run, only as wrong figures.
"""

from __future__ import annotations

import pytest

from benchmarks import breakdown, memory, report, servers, workload
from benchmarks.breakdown import Frame

# /proc/PID/status of a gunicorn worker, abridged.
STATUS = """Name:\tgunicorn
State:\tS (sleeping)
Pid:\t4242
VmPeak:\t  120312 kB
VmSize:\t  120308 kB
VmHWM:\t   51220 kB
VmRSS:\t   50176 kB
RssAnon:\t   38912 kB
Threads:\t1
"""


class TestRatios:
    def test_each_ratio_is_the_share_of_its_denominators_throughput(self):
        found = report.ratios({"bare": 4000.0, "baseline": 2000.0, "page": 1000.0, "context": 3000.0})

        assert found["page_vs_bare"] == 0.25
        assert found["context_vs_bare"] == 0.75
        assert found["baseline_vs_bare"] == 0.5
        assert found["page_vs_baseline"] == 0.5
        assert found["context_vs_baseline"] == 1.5

    def test_a_ratio_whose_scenario_did_not_run_is_left_out_not_guessed(self):
        found = report.ratios({"bare": 4000.0, "page": 1000.0})

        assert found == {"page_vs_bare": 0.25}
        assert "page_vs_ace_cluster" not in report.ratios({"bare": 1.0, "page": 1.0, "webhook": 1.0})

    def test_a_denominator_that_served_nothing_gives_no_ratio(self):
        assert "webhook_vs_bare" not in report.ratios({"bare": 0.0, "webhook": 10.0})

    def test_cpu_ratios_put_the_cheaper_request_on_top(self):
        # Bare Django costs 200 µs, a page load 800: the page keeps a quarter of bare Django's throughput.
        found = report.cpu_ratios({"bare": 200.0, "page": 800.0, "webhook": 400.0})

        assert found["page_vs_bare"] == 0.25
        assert found["webhook_vs_bare"] == 0.5

    def test_the_document_carries_the_ratios_to_bare_django_and_the_memory(self):
        def scenario(key, name, rate, cpu):
            rounds = [report.Round(rate, int(rate), 0, 0, cpu, False)] * 3
            return report.ScenarioResult(key, name, name, "req/s", rounds, None)

        results = report.Results(
            machine={},
            method={},
            scenarios=[
                scenario("0", "bare", 3000.0, 300.0),
                scenario("b", "page", 1500.0, 700.0),
                scenario("c", "context", 2100.0, 500.0),
                scenario("f", "webhook", 600.0, 1500.0),
            ],
            memory={"growth_mib_max": 0.1},
            memory_refused=2,
        )

        document = results.document()

        assert document["ratios"]["page_vs_bare"] == 0.5
        assert document["ratios"]["context_vs_bare"] == 0.7
        assert document["ratios"]["webhook_vs_bare"] == 0.2
        assert document["cpu_ratios"]["webhook_vs_bare"] == 0.2
        assert document["figures"]["0_bare_rps"] == 3000.0
        assert list(document["scenarios"]) == ["bare", "page", "context", "webhook"]
        assert document["memory"] == {"growth_mib_max": 0.1}
        assert document["non_2xx"] == 2  # the memory run's refusals fail the run too


class TestMemory:
    def test_rss_is_read_from_the_vmrss_line_in_bytes(self):
        assert servers.rss_bytes(STATUS) == 50176 * 1024

    def test_a_status_without_rss_is_an_error_not_zero(self):
        with pytest.raises(ValueError, match="VmRSS"):
            servers.rss_bytes("Name:\tkthreadd\nState:\tS (sleeping)\n")

    def test_summary_reports_growth_overall_and_over_the_second_half(self):
        mib = memory.MIB
        checkpoints = [
            memory.Checkpoint(0, {11: 50 * mib, 12: 52 * mib}),
            memory.Checkpoint(25_000, {11: 53 * mib, 12: 52 * mib}),
            memory.Checkpoint(50_000, {11: 54 * mib, 12: 52 * mib}),
            memory.Checkpoint(100_000, {11: 54 * mib, 12: 53 * mib}),
        ]

        found = memory.summary(checkpoints, tenants=100_000)

        assert found["requests"] == 100_000
        assert found["workers"][0] == {
            "pid": 11,
            "rss_warm_mib": 50.0,
            "rss_final_mib": 54.0,
            "growth_mib": 4.0,
            "growth_second_half_mib": 0.0,  # a cache that filled up in the first half
        }
        assert found["workers"][1]["growth_second_half_mib"] == 1.0
        assert found["growth_mib_max"] == 4.0
        assert found["growth_second_half_mib_max"] == 1.0
        assert found["checkpoints"][-1] == {"requests": 100_000, "rss_mib": [54.0, 53.0]}

    def test_a_worker_replaced_during_the_run_is_an_error(self):
        checkpoints = [memory.Checkpoint(0, {11: 1}), memory.Checkpoint(10, {13: 1})]

        with pytest.raises(ValueError, match="replaced"):
            memory.summary(checkpoints, tenants=10)


class TestRequestLines:
    def test_a_webhook_request_keeps_its_headers_and_body_through_the_file(self, tmp_path):
        request = workload.Request(
            "POST",
            "/jira/webhooks/issue-created",
            "JWT abc.def.ghi",
            ("X-Atlassian-Webhook-Identifier: 5f1c", "X-Atlassian-Webhook-Retry: 0"),
            '{"webhookEvent":"jira:issue_created"}',
        )
        path = tmp_path / "requests"

        workload.write_requests(path, [request, workload.Request("GET", "/")])

        assert workload.read_requests(path) == [request, workload.Request("GET", "/")]
        assert request.header_items() == {
            "X-Atlassian-Webhook-Identifier": "5f1c",
            "X-Atlassian-Webhook-Retry": "0",
            "Authorization": "JWT abc.def.ghi",
            "Content-Type": "application/json",
        }


def stack(*frames: str) -> list[Frame]:
    """Frames written "path:function", outermost first, under a gunicorn worker's loop."""
    loop = [Frame("run", "gunicorn/workers/sync.py"), Frame("handle", "gunicorn/workers/sync.py")]
    return loop + [Frame(text.split(":")[1], text.split(":")[0]) for text in frames]


MIDDLEWARE_CHAIN = (
    "gunicorn/workers/sync.py:handle_request",
    "django/core/handlers/wsgi.py:__call__",
    "django/core/handlers/base.py:get_response",
    "django/core/handlers/exception.py:inner",
    "jira_app/middleware.py:__call__",
    "django/core/handlers/exception.py:inner",
    "django/core/handlers/base.py:_get_response",
)


class TestBreakdown:
    @pytest.mark.parametrize(
        ("frames", "bucket"),
        [
            # Work inside a rule's function, however deep, is that rule's.
            (
                (
                    "jira_app/middleware.py:process_view",
                    "jira_app/models.py:for_authentication",
                    "django/db/backends/utils.py:execute",
                ),
                "lookup",
            ),
            (
                (
                    "jira_app/middleware.py:process_view",
                    "jira_app/tokens.py:verify_host_token",
                    "jwt/api_jws.py:_verify_signature",
                    "hmac.py:compare_digest",
                ),
                "signature",
            ),
            (("jira_app/middleware.py:process_view", "jira_app/tokens.py:_check_qsh"), "qsh"),
            (("jira_app/views.py:hello", "django/shortcuts.py:render", "django/template/base.py:render"), "template"),
            (("jira_app/views.py:whoami", "django/http/response.py:__init__", "json/encoder.py:encode"), "response"),
            (("jira_app/middleware.py:process_view",), "middleware: jira_app.middleware"),
            (
                ("django/contrib/sessions/middleware.py:process_response", "django/utils/cache.py:patch_vary_headers"),
                "middleware: django.contrib.sessions.middleware",
            ),
            (("gunicorn/glogging.py:access", "logging/__init__.py:emit"), "access log"),
            (("gunicorn/http/wsgi.py:write", "gunicorn/util.py:write", "socket.py:sendall"), "connection handling"),
            (("gunicorn/workers/sync.py:wait",), breakdown.IDLE),
            (("gunicorn/http/parser.py:__next__",), "gunicorn (worker loop, HTTP parser, WSGI environ)"),
        ],
    )
    def test_a_sample_goes_to_the_innermost_frame_a_rule_names(self, frames, bucket):
        assert breakdown.bucket_of(stack(*frames)) == bucket

    def test_what_follows_a_middleware_in_the_chain_is_not_charged_to_it(self):
        # URL resolving runs inside ConnectJwtMiddleware.__call__, but after its get_response: Django's work.
        sample = stack(*MIDDLEWARE_CHAIN, "django/urls/resolvers.py:resolve")

        assert breakdown.bucket_of(sample) == "Django core (handler, request, URL resolving)"

    def test_a_view_called_through_the_chain_is_the_views(self):
        assert breakdown.bucket_of(stack(*MIDDLEWARE_CHAIN, "jira_app/views.py:hello")) == "view"

    def test_a_stack_read_half_way_through_a_change_is_set_apart(self):
        assert breakdown.bucket_of([Frame("write_chunk", "gunicorn/util.py")]) == breakdown.TORN

    def test_folded_lines_are_parsed_for_the_workers_only_with_module_paths(self):
        site = "/venv/lib/python3.11/site-packages"
        lines = [
            f'process 1:"gunicorn: master";process 2:"gunicorn: worker";run ({site}/gunicorn/workers/sync.py:132);'
            f"read (/usr/lib/python3.11/socket.py:706) 7\n",
            f'process 1:"gunicorn: master";sleep ({site}/gunicorn/arbiter.py:360) 50\n',
            "garbage without a count\n",
        ]

        parsed = list(breakdown.parse_folded(lines, pids={2}))

        assert parsed == [([Frame("run", "gunicorn/workers/sync.py"), Frame("read", "socket.py")], 7)]

    def test_microseconds_per_request_are_shares_of_the_sampled_time(self):
        counts = breakdown.Counter({"view": 300, "lookup": 100, breakdown.IDLE: 600, breakdown.TORN: 50})

        # 1,000 samples over 2 worker-seconds, 1,000 requests: a sample is 2 µs of a request.
        found = breakdown.per_request(counts, requests=1000, worker_seconds=2.0)

        assert found == {"view": 600.0, "lookup": 200.0}
