"""Reading the app's answers: the facts a page shows, a refusal's reason, and whether a page is right."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from fake_jira.demo.wire import short
from fake_jira.messages import Response
from fake_jira.models import Direction, Event
from fake_jira.sites import JiraSite


@dataclass(frozen=True)
class PageFacts:
    """What a page says about the request: this project's hello page marks each fact with an element id.

    A fact is None when the page has no such element; ``project_keys`` are the ``<code>`` items of ``#projects``.
    """

    site: str | None
    client_key: str | None
    account_id: str | None
    project_keys: tuple[str, ...] | None
    rest_error: str | None


def _element(page: str, element_id: str) -> str | None:
    # A regex, not an HTML parser: the ids are the page's contract with this story, not its markup.
    found = re.search(rf'<(\w+)[^>]*\bid="{re.escape(element_id)}"[^>]*>(.*?)</\1>', page, re.DOTALL)
    return found.group(2) if found else None


def _text(markup: str | None) -> str | None:
    return None if markup is None else " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def read_page(page: str) -> PageFacts:
    projects = _element(page, "projects")
    keys = None if projects is None else tuple(html.unescape(k) for k in re.findall(r"<code>(.*?)</code>", projects))
    return PageFacts(
        site=_text(_element(page, "site")),
        client_key=_text(_element(page, "client-key")),
        account_id=_text(_element(page, "account-id")),
        project_keys=keys,
        rest_error=_text(_element(page, "rest-error")),
    )


def reason(response: Response) -> str:
    """The app's own word for a refusal (jira_app answers {"error", "message"}), shortened for one line."""
    try:
        body = response.json()
    except ValueError:
        return short(" ".join(response.text.split()), 110)
    said = (body.get("message") or body.get("error")) if isinstance(body, dict) else None
    return short(str(said if said is not None else body), 110)


def judge_page(site: JiraSite, facts: PageFacts, events: list[Event]) -> tuple[bool, str]:
    """Whether the page shows this site, its own projects, and REST calls to this site only."""
    problems, said = [], []
    if facts.site is None and facts.client_key is None:
        said.append("(the page has no #site or #client-key element to show which tenant it resolved)")
    elif facts.site not in (None, site.base_url) or facts.client_key not in (None, site.client_key):
        problems.append(f"WRONG TENANT: the page shows {facts.site} ({facts.client_key}), not {site.name}")
    else:
        said.append(f"resolved {site.name} (clientKey {short(site.client_key)})")
    calls = [e for e in events if e.direction is Direction.FROM_APP and e.action == "REST"]
    problems += [f"called another site's API: {e.request}" for e in calls if e.site != site.name]
    problems += [
        f"{site.base_url} refused the app's REST call {e.request} with {e.status}" for e in calls if e.status >= 400
    ]
    if facts.rest_error:
        problems.append(f"the page reports a REST error: {facts.rest_error}")
    if facts.project_keys is not None:
        expected = sorted(site.state.projects)
        if sorted(facts.project_keys) != expected:
            problems.append(f"the page lists projects {list(facts.project_keys)}, the site has {expected}")
        source = f"fetched from {site.base_url}" if calls else "from the app's cache (no REST call this time)"
        count = len(facts.project_keys)
        said.append(f"{count} project{'' if count == 1 else 's'} ({', '.join(facts.project_keys)}) {source}")
    return (False, "; ".join(problems)) if problems else (True, ", ".join(said))
