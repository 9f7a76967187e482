"""The check's verdicts: failures alone count as failed, warnings and hardening notes are reported before."""

from __future__ import annotations

from fake_jira.conformance.core import CaseResult, Outcome, Report, Verdict, is_refusal

PASSED = CaseResult(True, "401", "401")
WARNED = CaseResult(False, "401", "400", "answer 401", Verdict.WARN)
HARDENED = CaseResult(False, "401 before any key fetch", "401 after fetching '/x'", "check kids", Verdict.HARDENING)
FAILED = CaseResult(False, "401", "200", "verify the signature")


def report(*, strict: bool = False) -> Report:
    results = {"a": PASSED, "b": WARNED, "c": HARDENED, "d": FAILED}
    return Report([Outcome(name, "checks", result, strict=strict) for name, result in results.items()])


def test_the_summary_counts_failures_only():
    checked = report()

    assert checked.summary() == "3 passed, 1 failed"
    assert checked.notes() == "1 warning, 1 hardening note"
    assert (checked.failures, checked.warnings, checked.hardening) == (["d"], ["b"], ["c"])


def test_strict_makes_warnings_failures_and_leaves_hardening_notes():
    checked = report(strict=True)

    assert checked.summary() == "2 passed, 2 failed"
    assert checked.notes() == "0 warnings, 1 hardening note"
    assert checked.failures == ["b", "d"]


def test_each_verdict_has_its_own_line():
    lines = [outcome.line() for outcome in report().outcomes]

    assert lines == [
        "✓ a: checks (401)",
        "⚠ b: expected 401, got 400 — refused, but not with the conventional status; fix: answer 401",
        "◇ c: expected 401 before any key fetch, got 401 after fetching '/x' — hardening beyond the protocol; "
        "consider: check kids",
        "✗ d: expected 401, got 200 — fix: verify the signature",
    ]


def test_only_a_4xx_is_a_refusal():
    assert [status for status in (200, 204, 302, 400, 401, 413, 431, 499, 500, 503) if is_refusal(status)] == [
        400,
        401,
        413,
        431,
        499,
    ]
