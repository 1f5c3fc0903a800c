"""The whole story in a real browser: a liaison, a community representative and an auditor each
sign in in their own browser and click links and fill forms like a person, from opening a case to
a consent with conditions, and the downloaded decision trail verifies."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from fpic.trail import audit
from tests.browser.conftest import (
    LiveServer,
    PageFactory,
    fill_assembly_vote,
    fill_sign_in,
    fill_water_condition,
    sign_in,
    sign_out,
)
from tests.factories import PASSWORD, PROJECT_AREA, TERRITORY, Community

SLUG = "ayllu-qollana"
DELIBERATION_DAYS = 3
MINUTES_QU = "Ayllu runakunam tantanakurqaku; mama Ñusta rimarqan yakumanta, chakramanta ñawpaqman."
MINUTES_ES = "La comunidad se reunió; la señora Ñusta habló del agua, de las chacras y del camino."


@pytest.fixture
def community(world) -> Community:
    """One content language keeps disclosure to one form per item."""
    return world.add_community(SLUG, ["qu"])


def do_action(page: Page, title: str) -> None:
    """On the case page, follow an action's button to its form."""
    page.get_by_role("link", name=title, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)


def submit_action(page: Page, title: str) -> None:
    """Send the action form and land back on the case page with the confirmation."""
    page.get_by_role("button", name=title, exact=True).click()
    expect(page.locator(".flash.success")).to_have_text(f"Done: {title}.")


def note_action(page: Page, title: str, text: str) -> None:
    do_action(page, title)
    page.get_by_label("Record", exact=True).fill(text)
    submit_action(page, title)


def current_stage(page: Page) -> str:
    return page.locator(".stepper li[aria-current='step']").inner_text()


def test_a_case_from_opening_to_consent_with_conditions(
    live_server: LiveServer, community: Community, new_page: PageFactory, tmp_path
) -> None:
    base, world = live_server.url, live_server.world

    # --- the liaison opens the case and moves it through screening and rights-holders
    liaison = new_page("liaison")
    sign_in(liaison, base, "liaison")
    liaison.get_by_role("navigation", name="Main").get_by_role("link", name="Cases").click()
    liaison.get_by_role("link", name="Open a case").click()
    expect(liaison).to_have_url(f"{base}/cases/new")
    liaison.get_by_label("Case reference").fill("CV-QOLLANA-01")
    liaison.get_by_label("Project").select_option(label="Cerro Verde copper exploration")
    liaison.get_by_label("Community").select_option(label="Ayllu Qollana")
    liaison.get_by_label("Process template").select_option(label="General FPIC process")
    liaison.get_by_role("button", name="Open a case").click()
    expect(liaison.locator(".flash.success")).to_have_text("Case CV-QOLLANA-01 opened.")
    match = re.search(r"/cases/(\d+)$", liaison.url)
    assert match, liaison.url
    case_id = int(match.group(1))
    case_url = f"{base}/cases/{case_id}"
    assert current_stage(liaison) == "Screening"

    # where the project is: its corners typed, the case screened, the map drawn on the page
    do_action(liaison, "Record the project's area")
    liaison.get_by_label("Or type the area's corners").fill(PROJECT_AREA)
    submit_action(liaison, "Record the project's area")
    expect(liaison.locator("section[aria-labelledby=h-where] svg[role=img]")).to_be_visible()
    note_action(
        liaison,
        "Record that FPIC is required",
        "The drilling platforms sit on the ayllu's customary grazing land.",
    )
    assert current_stage(liaison) == "Rights-holders and institutions"
    note_action(
        liaison, "Confirm rights-holders", "The assembly and its three representatives are known."
    )
    assert current_stage(liaison) == "Participatory mapping"

    # --- the community representative, in their own browser, maps and agrees the process
    rep = new_page("representative")
    sign_in(rep, base, f"rep-{SLUG}-1")
    waiting = rep.get_by_role("region", name="Waiting for me")
    waiting.get_by_role("link", name="CV-QOLLANA-01").click()
    expect(rep).to_have_url(case_url)
    do_action(rep, "Complete participatory mapping")
    rep.get_by_label("Record", exact=True).fill("Maps of pastures and springs signed off.")
    rep.get_by_label("Or type the area's corners").fill(TERRITORY)
    submit_action(rep, "Complete participatory mapping")
    assert current_stage(rep) == "Agree the process"

    do_action(rep, "Agree the process")
    expect(rep.get_by_label("Deciding body")).to_have_value("Community assembly")
    rep.get_by_label("Decision rule").select_option(label="Simple majority")
    rep.get_by_label("Quorum, percentage of those entitled to vote").fill("60")
    rep.get_by_label("Minimum deliberation days").fill(str(DELIBERATION_DAYS))
    expect(rep.get_by_label("Content languages (codes, comma-separated)")).to_have_value("qu")
    formats = rep.get_by_role("group", name="Formats required for disclosure")
    formats.get_by_label("Written").check()
    rep.get_by_label("Grievance route").fill("Complaints to the grievance committee, in Quechua.")
    rep.get_by_label("Source (resolution, minutes, protocol)").fill("Assembly resolution 12/2026")
    submit_action(rep, "Agree the process")
    assert current_stage(rep) == "Disclosure and discussion"

    # --- the liaison registers every required disclosure, logs a meeting, declares completion
    liaison.goto(case_url)
    do_action(liaison, "Register a disclosure")
    offered = liaison.get_by_label("Item of information").locator("option").all_inner_texts()
    # the eight required, and the one a screening finding critical habitat would require
    assert len(offered) == 9, offered
    items = [i for i in offered if not i.startswith("Biodiversity")]
    assert len(items) == 8, items
    for n, item in enumerate(items):
        if n:
            do_action(liaison, "Register a disclosure")
        form = liaison.get_by_role("main")  # the header has a "Language" select too
        form.get_by_label("Item of information").select_option(label=item)
        form.get_by_role("group", name="Languages").get_by_label("Quechua (qu)", exact=True).check()
        form.get_by_role("group", name="Formats").get_by_label("Written", exact=True).check()
        form.get_by_label("Title", exact=True).fill(f"{item} — Quechua booklet")
        form.get_by_label("Channel (assembly, radio, booklet ...)").fill("Community hall")
        form.get_by_label("Translator or interpreter").fill("Rosa Mamani")
        submit_action(liaison, "Register a disclosure")
    matrix = liaison.get_by_role("region", name="Disclosure")
    expect(matrix.locator(".cell-ok")).to_have_count(8)
    expect(matrix.locator(".cell-missing")).to_have_count(0)

    do_action(liaison, "Log a meeting")
    liaison.get_by_label("Kind of meeting").select_option(label="Information meeting")
    liaison.get_by_label("Place", exact=True).fill("Casa comunal de Qollana")
    liaison.get_by_label("Languages used (codes, comma-separated)").fill("qu, es")
    liaison.get_by_label("Interpreter", exact=True).fill("Rosa Mamani")
    liaison.get_by_label("Women attending", exact=True).fill("41")
    liaison.get_by_label("Men attending", exact=True).fill("37")
    liaison.get_by_label("Other attendees", exact=True).fill("2")
    liaison.get_by_label("Of whom youth", exact=True).fill("15")
    expect(liaison.get_by_label("Language of the minutes (code)")).to_have_value("qu")
    liaison.get_by_label("Minutes in the original language").fill(MINUTES_QU)
    translation = liaison.get_by_role("group", name="Translation of the minutes 1")
    translation.get_by_label("Language of the translation (code, e.g. es)").fill("es")
    translation.get_by_label("Translated text").fill(MINUTES_ES)
    translation.get_by_label("Translated by").fill("Rosa Mamani")
    submit_action(liaison, "Log a meeting")
    meetings = liaison.get_by_role("region", name="Meetings")
    expect(meetings.locator("blockquote[lang='qu']")).to_have_text(MINUTES_QU)
    expect(meetings.locator("blockquote[lang='es']")).to_contain_text(MINUTES_ES)
    expect(meetings).to_contain_text("41 women, 37 men, 2 others (15 youth)")

    note_action(liaison, "Declare disclosure complete", "All eight items shared in Quechua.")
    assert current_stage(liaison) == "Internal deliberation"

    # --- the representative negotiates and convenes the decision; the deliberation days run
    rep.goto(case_url)
    note_action(rep, "Open negotiation", "The assembly is ready to discuss terms.")
    note_action(rep, "Convene the decision", "The assembly meets on the next full moon.")
    assert current_stage(rep) == "Decision"
    blocked = rep.locator("ul.main-steps > li", has_text="Record consent with conditions")
    expect(blocked).to_contain_text("deliberation")
    expect(rep.get_by_role("link", name="Record consent with conditions")).to_have_count(0)

    # days later: the session has timed out, so the representative signs in again
    world.clock.advance(days=DELIBERATION_DAYS, hours=1)
    rep.reload()
    expect(rep).to_have_url(re.compile(r"/login\?next="))
    fill_sign_in(rep, f"rep-{SLUG}-1")
    # back to the case they were reading, after their last action: days later, its page
    # no longer says "Done"
    expect(rep).to_have_url(re.compile(rf"^{re.escape(case_url)}\?done=\d+$"))
    expect(rep.locator(".flash.success")).to_have_count(0)
    do_action(rep, "Record consent with conditions")
    fill_assembly_vote(rep, SLUG)
    expect(rep.get_by_label("Language of the decision text (code)")).to_have_value("qu")
    rep.get_by_label("Decision text in the original language").fill(
        "Ayllu tantanakuypi ari nirqayku, kay kamachikunawan."
    )
    fill_water_condition(rep)
    rep.get_by_label("Your password, to confirm this decision").fill(PASSWORD)
    submit_action(rep, "Record consent with conditions")

    assert current_stage(rep) == "Agreement and validation"
    decisions = rep.get_by_role("region", name="Decisions and conditions")
    expect(decisions.get_by_role("heading", level=3)).to_contain_text("Consent with conditions")
    expect(decisions.get_by_role("cell", name="Yakuta ama qhellichankichu.")).to_be_visible()

    # --- the auditor finds the case on the decision trail and downloads a verifiable export
    auditor = new_page("auditor")
    sign_in(auditor, base, "auditor")
    nav = auditor.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Decision trail").click()
    auditor.get_by_label("Case reference").fill("cv-qollana-01")  # capitals do not matter
    auditor.get_by_role("button", name="Filter").click()
    expect(auditor).to_have_url(re.compile(r"[?&]reference=cv-qollana-01\b"))
    expect(auditor.locator(".badge.ok", has_text="verified")).to_be_visible()
    rows = auditor.locator("table tbody tr")
    expect(rows.first).to_contain_text("Record consent with conditions")
    chains = set(auditor.locator("table tbody tr td:nth-child(2)").all_inner_texts())
    assert chains == {audit.case_chain(case_id)}, chains

    with auditor.expect_download() as info:
        auditor.get_by_role("link", name="JSON Lines").click()
    download = info.value
    assert download.suggested_filename == f"fpic-trail-case-{case_id}.jsonl"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    with saved.open(encoding="utf-8") as stream:
        result = audit.verify_export(stream)
    assert result.intact, result.breaks
    assert result.events > 0
    assert result.events == rows.count(), (result.events, rows.count())
    assert MINUTES_QU in saved.read_text(encoding="utf-8")


def test_the_chosen_language_is_remembered(
    live_server: LiveServer, community: Community, page: Page
) -> None:
    base = live_server.url
    sign_in(page, base, "liaison")
    expect(page.locator("html")).to_have_attribute("lang", "en")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Cases").click()
    page.get_by_label("Language", exact=True).select_option(label="Español")
    page.locator("form.language").get_by_role("button").click()
    expect(page).to_have_url(re.compile(r"/cases/"))  # back where the reader was
    expect(page.locator("html")).to_have_attribute("lang", "es")

    page.locator("header nav a[href='/communities/']").click()  # its label is Spanish now
    expect(page).to_have_url(f"{base}/communities/")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.locator("#language-choice option:checked")).to_have_text("Español")

    # the switch changed this session only: kept for next time once the person says so
    page.locator("form.language-offer button[value='yes']").click()
    expect(page).to_have_url(f"{base}/communities/")
    expect(page.locator("form.language-offer")).to_have_count(0)

    sign_out(page)
    sign_in(page, base, "liaison")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    page.goto(f"{base}/cases/")
    expect(page.locator("html")).to_have_attribute("lang", "es")
