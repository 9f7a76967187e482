"""What can go wrong: misuse of the simulator (FakeJiraError) and Jira's own HTTP faults (JiraApiError)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class FakeJiraError(Exception):
    """The simulator was asked for something it cannot do; the message says what to change."""


class DescriptorError(FakeJiraError):
    """The app's descriptor would not install on Jira; ``problems`` holds one sentence per problem."""

    def __init__(self, descriptor_url: str, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"- {problem}" for problem in self.problems)
        super().__init__(f"the descriptor at {descriptor_url} would not install:\n{lines}")


class DescriptorUnavailable(DescriptorError):
    """There is no descriptor to check at that URL: it answered another status than 200, or not JSON."""


class JiraApiError(Exception):
    """A fault a Jira-shaped route answers with: ``status`` is the HTTP status Jira would send.

    The message goes to the caller in Jira's error shape, ``{"errorMessages": [...], "errors": {...}}``, with
    ``errors`` naming fields, so neither may ever hold a secret or a token.
    """

    status = 500

    def __init__(self, message: str = "", errors: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.errors = dict(errors or {})


class BadRequest(JiraApiError):
    status = 400


class Unauthorized(JiraApiError):
    status = 401


class Forbidden(JiraApiError):
    status = 403


class NotFound(JiraApiError):
    status = 404


class MethodNotAllowed(JiraApiError):
    status = 405
