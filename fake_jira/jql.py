"""The subset of JQL that fake_jira's issue search understands, enough for what a typical app asks.

A query is clauses joined by ``AND``, then an optional ``ORDER BY``::

    project = DEMO AND status != Done AND summary ~ "login" ORDER BY created DESC

- Fields: ``project`` (key or id), ``key`` (or ``issuekey``), ``summary``, ``status``, ``issuetype``,
  ``reporter`` (an accountId, or ``currentUser()``: the app's user, who makes the call).
- Operators: ``=``, ``!=``, ``in (a, b)``, ``not in (a, b)``; ``~`` and ``!~`` (contains, case-insensitive)
  for ``summary`` only.
- Values: a bare word or a quoted string (``"two words"`` or ``'two words'``). Keywords and field names are
  case-insensitive, and so are values, except accountIds.
- ``ORDER BY`` ``key``, ``created`` or ``summary``, each ``ASC`` (the default) or ``DESC``, separated by
  commas. Without it, issues come in the order they were created.

Anything else (``OR``, parentheses around clauses, functions other than ``currentUser()``, other fields) is
refused with 400 and Jira's error shape, as is a query with no clause at all: like Jira's ``/search/jql``, the
search refuses unbounded queries.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fake_jira.exceptions import BadRequest
from fake_jira.models import Issue, User

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>!=|!~|=|~|\(|\)|,)
      | (?P<word>[^\s=!~(),"']+(?:\(\))?)
    )""",
    re.VERBOSE,
)
FIELDS = ("project", "key", "summary", "status", "issuetype", "reporter")
_ALIASES = {"issuekey": "key"}
_ORDERABLE = ("key", "created", "summary")


class JqlError(BadRequest):
    """A query outside the subset, or not JQL at all: 400, as Jira answers."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"Error in the JQL Query: {problem}")


@dataclass(frozen=True)
class Clause:
    field: str
    operator: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Query:
    clauses: tuple[Clause, ...]
    order_by: tuple[tuple[str, bool], ...]  # (field, descending)


def _tokens(jql: str) -> list[tuple[str, str]]:
    found, position = [], 0
    jql = jql.rstrip()
    while position < len(jql):
        match = _TOKEN.match(jql, position)
        if match is None or match.end() == position:
            raise JqlError(f"the character {jql[position:].lstrip()[:1]!r} is not expected at position {position}")
        kind = match.lastgroup or ""
        text = match.group(kind)
        if kind == "string":
            text = re.sub(r"\\(.)", r"\1", text[1:-1])
        found.append((kind, text))
        position = match.end()
    return found


class _Parser:
    def __init__(self, jql: str) -> None:
        self.tokens = _tokens(jql)
        self.position = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, expected: str = "") -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise JqlError(f"expecting {expected or 'more'} but reached the end of the query")
        self.position += 1
        return token

    def keyword(self, *words: str) -> bool:
        """Consume ``words`` (case-insensitive) when they come next."""
        upcoming = self.tokens[self.position : self.position + len(words)]
        if [(kind, text.upper()) for kind, text in upcoming] == [("word", word) for word in words]:
            self.position += len(words)
            return True
        return False

    def value(self) -> str:
        kind, text = self.take("a value")
        if kind == "op":
            raise JqlError(f"expecting a value but got {text!r}")
        return text

    def values(self) -> tuple[str, ...]:
        if self.take("'('") != ("op", "("):
            raise JqlError("expecting '(' after 'in'")
        values = [self.value()]
        while self.peek() == ("op", ","):
            self.take()
            values.append(self.value())
        if self.take("')'") != ("op", ")"):
            raise JqlError("expecting ')' or ',' in the list of values")
        return tuple(values)

    def clause(self) -> Clause:
        kind, text = self.take("a field")
        name = _ALIASES.get(text.lower(), text.lower())
        if kind != "word" or name not in FIELDS:
            raise JqlError(f"the field {text!r} is not supported; fake_jira searches by {', '.join(FIELDS)}")
        if self.keyword("NOT", "IN"):
            return Clause(name, "not in", self.values())
        if self.keyword("IN"):
            return Clause(name, "in", self.values())
        kind, operator = self.take("an operator")
        if kind != "op" or operator not in ("=", "!=", "~", "!~"):
            raise JqlError(f"expecting an operator (=, !=, ~, !~, in, not in) after {text!r}, got {operator!r}")
        if operator in ("~", "!~") and name != "summary":
            raise JqlError(f"the operator {operator!r} is supported on summary only")
        return Clause(name, operator, (self.value(),))

    def order_by(self) -> tuple[tuple[str, bool], ...]:
        order = []
        while True:
            kind, text = self.take("a field to order by")
            name = _ALIASES.get(text.lower(), text.lower())
            if kind != "word" or name not in _ORDERABLE:
                raise JqlError(f"cannot order by {text!r}; fake_jira orders by {', '.join(_ORDERABLE)}")
            descending = self.keyword("DESC")
            if not descending:
                self.keyword("ASC")
            order.append((name, descending))
            if self.peek() != ("op", ","):
                return tuple(order)
            self.take()

    def query(self) -> Query:
        clauses: list[Clause] = []
        order: tuple[tuple[str, bool], ...] = ()
        while (upcoming := self.peek()) is not None:
            if self.keyword("ORDER", "BY"):
                order = self.order_by()
                if (extra := self.peek()) is not None:
                    raise JqlError(f"unexpected {extra[1]!r} after the ORDER BY clause")
                break
            if clauses and not self.keyword("AND"):
                raise JqlError(f"expecting 'AND' or 'ORDER BY' before {upcoming[1]!r} (fake_jira supports no 'OR')")
            clauses.append(self.clause())
        if not clauses:
            raise JqlError("Unbounded JQL queries are not allowed here. Please add a search restriction.")
        return Query(tuple(clauses), order)


def parse(jql: str) -> Query:
    """The query, or JqlError (400) saying what is outside the subset."""
    return _Parser(jql).query()


def _field(issue: Issue, name: str) -> tuple[str, ...]:
    """What a clause on ``name`` compares with: every form the issue answers to."""
    if name == "project":
        return (issue.project.key.casefold(), issue.project.id)
    if name == "key":
        return (issue.key.casefold(), issue.id)
    if name == "reporter":
        return (issue.reporter.account_id,)
    value = {"summary": issue.summary, "status": issue.status, "issuetype": issue.issue_type}[name]
    return (value.casefold(),)


def _holds(clause: Clause, issue: Issue, current_user: User) -> bool:
    values = tuple(
        current_user.account_id
        if value.lower() == "currentuser()"
        else value
        if clause.field == "reporter"
        else value.casefold()
        for value in clause.values
    )
    actual = _field(issue, clause.field)
    if clause.operator in ("~", "!~"):
        contains = values[0] in actual[0]
        return contains if clause.operator == "~" else not contains
    found = any(value in actual for value in values)
    return found if clause.operator in ("=", "in") else not found


def search(query: Query, issues: Sequence[Issue], current_user: User) -> list[Issue]:
    """The issues the query matches, in its order (creation order without ORDER BY)."""
    found = [issue for issue in issues if all(_holds(clause, issue, current_user) for clause in query.clauses)]
    keys: dict[str, Callable[[Issue], object]] = {
        "key": lambda issue: (issue.project.key, int(issue.key.rsplit("-", 1)[1])),
        "created": lambda issue: (issue.created, int(issue.id)),
        "summary": lambda issue: issue.summary.casefold(),
    }
    for name, descending in reversed(query.order_by):
        found.sort(key=keys[name], reverse=descending)  # type: ignore[arg-type]
    return found
