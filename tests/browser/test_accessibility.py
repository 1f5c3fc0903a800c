"""axe-core on every page, for each role, in a real browser: no serious or critical violation.
And the keyboard: the skip link comes first, then the main navigation, and focus is visible."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select

from fpic.storage.models import Grievance, IntegrityFlag, Question
from tests.browser.conftest import (
    LiveServer,
    new_context,
    save_screenshots,
    serve,
)
from tests.factories import PASSWORD, Community, World, decision, make_world, walk_to

BLOCKING = ("serious", "critical")
SLUG = "ayllu-qollana"
AXE = Axe()


@dataclass
class Site:
    live: LiveServer
    community: Community
    rich: int  #: a case with disclosures, a meeting, a question, a flag and a decision
    at_disclosure: int
    at_decision: int
    browser: Browser
    pages: dict[str, Page] = field(default_factory=dict)
    contexts: list[BrowserContext] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.live.url

    def page_for(self, who: str, locale: str = "en") -> Page:
        """One signed-in page per user and language for the whole module ("anonymous" stays
        signed out); the browser asks for ``locale`` and nobody has saved a preference."""
        key = f"{who}/{locale}"
        if key not in self.pages:
            context = new_context(self.browser, "en-GB" if locale == "en" else locale)
            self.contexts.append(context)
            page = context.new_page()
            if who != "anonymous":
                sign_in_anywhere(page, self.url, who)
            self.pages[key] = page
        return self.pages[key]


def sign_in_anywhere(page: Page, base_url: str, username: str) -> None:
    """Sign in whatever the page's language: the fields by name, the form's one button."""
    page.goto(f"{base_url}/login")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"{base_url}/")


def first_id(world: World, model: Any, case_id: int) -> int:
    with world.db.read_session() as session:
        found = session.scalar(select(model.id).where(model.case_id == case_id))
    assert found is not None
    return found


def build_world(world: World) -> tuple[Community, int, int, int]:
    community = world.add_community(SLUG, ["qu", "es"])
    rep = community.rep_actors[0]
    rich = world.open_case(community)
    walk_to(world, rich, "decision", community)
    today = world.clock.now().date().isoformat()
    world.act(rich, "log_meeting", world.liaison, {
        "kind": "information", "held_on": today, "place": "Casa comunal",
        "languages_used": ["qu", "es"], "interpreter": "Rosa Mamani",
        "attendance_women": 41, "attendance_men": 37, "attendance_other": 2,
        "attendance_youth": 15, "minutes_language": "qu",
        "minutes_original": "Ayllu runakunam tantanakurqaku; mama Ñusta rimarqan.",
        "minutes_translations": [{"language": "es", "text": "La señora Ñusta habló del agua.",
                                  "translator": "Rosa Mamani"}],
    })  # fmt: skip
    world.act(rich, "ask_question", rep, {"text": "¿Y el agua del puquio?", "language": "es"})
    question_id = first_id(world, Question, rich)
    answer = {"question_id": question_id, "answer": "Se medirá cada trimestre.", "language": "es"}
    world.act(rich, "answer_question", world.liaison, answer)
    flag = {"category": "gift_outside_budget", "description": "Regalos en la feria."}
    world.act(rich, "raise_integrity_flag", world.liaison, flag)
    flag_id = first_id(world, IntegrityFlag, rich)
    world.review_flag(rich, community, flag_id, False, "No hubo influencia.")
    conditions = [{
        "text": "Yakuta ama qhellichankichu.", "language": "qu",
        "obligated_party": "Andes Copper S.A.", "due_on": "2026-12-31",
        "verification": "Joint water sampling every quarter",
    }]  # fmt: skip
    world.act(rich, "give_consent_with_conditions", rep,
              decision(world, community, conditions=conditions))  # fmt: skip
    assert world.case(rich).stage == "agreement"
    # a grievance on the page, escalated to a mediator, so its table and badges are checked too
    world.act(rich, "lodge_grievance", rep, {
        "category": "benefit_distribution", "channel": "anonymous_box", "anonymous": True,
        "language": "qu", "text": "Qullqiqa mana chayanchu.", "received_on": today,
    })  # fmt: skip
    grievance_id = first_id(world, Grievance, rich)
    world.act(rich, "escalate_grievance", rep, {
        "grievance_id": grievance_id, "mediator": "Defensoría del Pueblo", "text": "Sin respuesta.",
    })  # fmt: skip

    at_disclosure = world.open_case(community)
    walk_to(world, at_disclosure, "disclosure", community)
    at_decision = world.open_case(community)
    walk_to(world, at_decision, "decision", community)
    return community, rich, at_disclosure, at_decision


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, browser: Browser) -> Iterator[Site]:
    path = tmp_path_factory.mktemp("a11y") / "fpic.sqlite3"
    world = make_world(f"sqlite:///{path}")
    community, rich, at_disclosure, at_decision = build_world(world)
    live = serve(world)
    built = Site(live, community, rich, at_disclosure, at_decision, browser)
    yield built
    for context in built.contexts:
        context.close()
    live.stop()
    world.db.dispose()


@pytest.fixture
def as_user(site: Site, request: pytest.FixtureRequest) -> Iterator[Callable[..., Page]]:
    """as_user("liaison"[, "es"]) -> that user's page; photographed if the test fails."""
    used: list[tuple[str, Page]] = []

    def get(who: str, locale: str = "en") -> Page:
        page = site.page_for(who, locale)
        used.append((f"{who}-{locale}", page))
        return page

    yield get
    save_screenshots(request.node, used)


# --- what each page needs before axe looks at it ---------------------------------------------


def _send_empty(page: Page) -> None:
    """Send the page's main form as it stands, so the server shows its validation errors."""
    page.locator("main form.card").last.locator("button[type=submit]").first.click()
    page.wait_for_load_state()
    expect(page.locator("main .error").first).to_be_visible()


def _failed_sign_in(page: Page) -> None:
    """In any language: the fields by name, the form's one button. Not an account the other
    pages sign in with: six refusals in a row (one per language) would throttle it."""
    page.locator("input[name=username]").fill("nobody-here")
    page.locator("input[name=password]").fill("not the password")
    page.locator("main form button[type=submit]").click()
    expect(page.locator(".flash.error")).to_be_visible()


# (who, path, what to do on the page first, expected HTTP status); {rich} etc. from Site
PAGES: dict[str, tuple[str, str, Callable[[Page], None] | None, int]] = {
    "login": ("anonymous", "/login", None, 200),
    "login-refused": ("anonymous", "/login", _failed_sign_in, 200),
    "dashboard-liaison": ("liaison", "/", None, 200),
    "dashboard-representative": (f"rep-{SLUG}-1", "/", None, 200),
    "dashboard-auditor": ("auditor", "/", None, 200),
    "dashboard-admin": ("admin", "/", None, 200),
    "case-list": ("liaison", "/cases/", None, 200),
    "search": ("liaison", "/search?q=qollana", None, 200),
    "search-nothing-to-look-for": ("liaison", "/search?q=%21%21", None, 400),
    "case-page-liaison": ("liaison", "/cases/{rich}", None, 200),
    "case-page-representative": (f"rep-{SLUG}-1", "/cases/{rich}", None, 200),
    "case-page-at-decision": (f"rep-{SLUG}-1", "/cases/{at_decision}", None, 200),
    "action-disclosure-invalid": (
        "liaison", "/cases/{at_disclosure}/actions/register_disclosure", _send_empty, 200,
    ),
    "action-meeting-invalid": (
        "liaison", "/cases/{at_disclosure}/actions/log_meeting", _send_empty, 200,
    ),
    "action-consent-invalid": (
        f"rep-{SLUG}-1", "/cases/{at_decision}/actions/give_consent_with_conditions",
        _send_empty, 200,
    ),
    "action-protocol-blocked": (
        f"rep-{SLUG}-1", "/cases/{rich}/actions/agree_protocol", None, 200,
    ),
    "new-case": ("liaison", "/cases/new", None, 200),
    "new-case-invalid": ("liaison", "/cases/new", _send_empty, 200),
    "communities": ("liaison", "/communities/", None, 200),
    "project-landscape": ("liaison", "/projects/{project}", None, 200),
    "projects": ("auditor", "/projects/", None, 200),
    "legacy-sites": ("auditor", "/legacy-sites/", None, 200),
    "community-page": ("liaison", f"/communities/{SLUG}", None, 200),
    "trail": ("auditor", "/audit/", None, 200),
    "trail-of-case": ("auditor", "/audit/?case={rich}", None, 200),
    "verify": ("auditor", "/audit/verify", None, 200),
    "trail-by-label": ("auditor", "/audit/?action=Record+that+FPIC+is+required", None, 200),
    "trail-access": ("auditor", "/audit/access", None, 200),
    "trail-event": ("auditor", "/audit/case:{rich}/2", None, 200),
    "record": ("liaison", "/cases/{rich}/record", None, 200),
    "calendar": ("liaison", "/calendar?days=731", None, 200),
    "waiting-for-me": (f"rep-{SLUG}-1", "/cases/?waiting=1", None, 200),
    "action-disclosures": (
        "liaison", "/cases/{at_disclosure}/actions/register_disclosures", None, 200,
    ),
    "action-disclosures-invalid": (
        "liaison", "/cases/{at_disclosure}/actions/register_disclosures", _send_empty, 200,
    ),
    "users": ("admin", "/admin/users", None, 200),
    "password": ("auditor", "/account/password", None, 200),
    "password-invalid": ("auditor", "/account/password", _send_empty, 200),
    "settings": ("auditor", "/account/settings", None, 200),
    "not-found": ("liaison", "/cases/999999", None, 404),
}  # fmt: skip


def blocking_violations(page: Page) -> tuple[list[dict[str, Any]], dict[str, int]]:
    results = AXE.run(page)
    violations = results.response["violations"]
    counts: dict[str, int] = {}
    for v in violations:
        counts[v["impact"] or "none"] = counts.get(v["impact"] or "none", 0) + len(v["nodes"])
    return [v for v in violations if v["impact"] in BLOCKING], counts


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']} — {v['helpUrl']}")
        for node in v["nodes"][:10]:
            lines.append(f"    {' '.join(map(str, node['target']))}: {node['html'][:200]}")
            if node.get("failureSummary"):
                lines.append("      " + node["failureSummary"].replace("\n", "\n      "))
    return "\n".join(lines)


#: every language of the interface (web/i18n.py LOCALES), as a browser asks for it
LOCALES = ("en", "es", "fr", "pt-BR", "id", "fil")


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("name", list(PAGES))
def test_no_serious_accessibility_violation(
    name: str, locale: str, site: Site, as_user: Callable[..., Page]
) -> None:
    who, path, prepare, status = PAGES[name]
    page = as_user(who, locale)
    target = site.url + path.format(
        rich=site.rich, at_disclosure=site.at_disclosure, at_decision=site.at_decision,
        project=site.live.world.project_id,
    )  # fmt: skip
    response = page.goto(target)
    assert response is not None
    assert response.status == status, (target, response.status)
    expect(page.locator("main h1")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", locale)
    if prepare is not None:
        prepare(page)
    blocking, counts = blocking_violations(page)
    print(f"axe {name} {locale}: {json.dumps(counts, sort_keys=True)}")
    assert not blocking, f"{name} in {locale} ({page.url}):\n{describe(blocking)}"


# --- the keyboard --------------------------------------------------------------------------------

FOCUSED = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  return {
    tag: el.tagName, cls: el.className, text: (el.textContent || '').trim(),
    href: el.getAttribute('href'), inHeader: !!el.closest('header'),
    inMainNav: !!el.closest('header nav'), inMain: !!el.closest('main'),
    outlineStyle: style.outlineStyle, outlineWidth: style.outlineWidth,
    left: el.getBoundingClientRect().left, width: el.getBoundingClientRect().width,
  };
}"""


def test_keyboard_reaches_the_skip_link_then_the_navigation(
    site: Site, as_user: Callable[[str], Page]
) -> None:
    page = as_user("liaison")
    page.goto(f"{site.url}/cases/")
    page.keyboard.press("Tab")
    skip = page.evaluate(FOCUSED)
    assert skip["cls"] == "skip", skip
    assert skip["href"] == "#main", skip
    assert skip["left"] >= 0, f"the focused skip link is off screen: {skip}"
    assert skip["width"] > 0, f"the focused skip link is off screen: {skip}"
    assert skip["outlineStyle"] != "none", skip

    passed = []
    for _ in range(3):
        page.keyboard.press("Tab")
        now = page.evaluate(FOCUSED)
        if now["inMainNav"]:
            break
        passed.append(now)
    else:
        pytest.fail(f"three Tabs after the skip link did not reach the main navigation: {passed}")
    assert all(p["inHeader"] for p in passed), passed  # only the home link comes between
    assert now["tag"] == "A", now
    assert now["text"] == "Dashboard", now
    assert now["outlineStyle"] != "none", f"no visible focus style on a focused link: {now}"
    assert now["outlineWidth"] not in ("0px", ""), now

    # the skip link works: after it, the next Tab lands inside the main content
    page.goto(f"{site.url}/cases/")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    inside = page.evaluate(FOCUSED)
    assert inside["inMain"], f"after the skip link, Tab went to {inside}"


def test_focus_is_visible_on_fields_and_buttons(site: Site, as_user: Callable[[str], Page]) -> None:
    page = as_user("liaison")
    page.goto(f"{site.url}/cases/new")
    page.get_by_label("Case reference").focus()
    for _ in range(5):  # the reference field, three selects, the submit button
        state = page.evaluate(FOCUSED)
        assert state["inMain"], state
        assert state["outlineStyle"] != "none", f"no visible focus style: {state}"
        page.keyboard.press("Tab")
    assert state["tag"] == "BUTTON", state


def test_axe_does_report_a_broken_page(site: Site, as_user: Callable[[str], Page]) -> None:
    """The check above can fail: strip the sign-in form's labels and axe says so."""
    page = as_user("anonymous")
    page.goto(f"{site.url}/login")
    page.evaluate("document.querySelectorAll('main label').forEach(l => l.remove())")
    page.evaluate("document.documentElement.removeAttribute('lang')")
    blocking, _ = blocking_violations(page)
    assert {"label", "html-has-lang"} <= {v["id"] for v in blocking}, describe(blocking)
