"""How a step is judged: what a correct Connect app answers, and the end of the story when it stops answering."""

from __future__ import annotations

from collections.abc import Callable

from fake_jira.demo.pages import reason
from fake_jira.demo.wire import Sent
from fake_jira.messages import Response
from fake_jira.models import Event

# A verdict on the app's answer, given the simulator's events meanwhile and the request as sent.
Judge = Callable[[Response, list[Event], Sent], tuple[bool, str]]


class StoryOver(Exception):
    """The app stopped answering: no later step can tell anything."""


def accepted(what: str) -> Judge:
    def judge(response: Response, events: list[Event], sent: Sent) -> tuple[bool, str]:
        if response.ok:
            return True, what
        return False, f"refused ({reason(response)}); a correct app accepts this"

    return judge


def refused(why: str) -> Judge:
    def judge(response: Response, events: list[Event], sent: Sent) -> tuple[bool, str]:
        if response.status == 401:
            return True, f"refused, as it must be: {why} (the app said: {reason(response)})"
        if response.ok:
            return False, f"ACCEPTED, but {why}: a correct app answers 401"
        return False, f"a correct app answers 401 here: {why} ({reason(response)})"

    return judge
