"""The printable decision record: the consent's scope, the rule and how it was met (a consensus
as one), the disclosures the community decided on, the conditions, signature lines for both
parties, the time zone, a print button that needs no inline script, and a print stylesheet that
fits A4 and Letter."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest
from babel.dates import format_datetime, get_timezone

from fpic.workflow.process import shipped_templates
from tests.factories import World, decision, protocol, walk_to
from tests.web.conftest import Browser, table_rows
from web import create_app

PRINT_CSS = Path(__file__).parents[2] / "web" / "static" / "print.css"
AREA = "The drill pads north of the Pukyu spring, as on the assembly's map of 3 May"
CONDITIONS = [
    {
        "text": "No drilling within 500 m of the Pukyu spring.",
        "language": "es",
        "obligated_party": "Andes Copper S.A.",
        "due_on": "2026-12-31",
        "verification": "Joint inspection with the water committee",
    },
    {
        "text": "Monthly water samples shared with the assembly.",
        "language": "es",
        "obligated_party": "Andes Copper S.A.",
        "verification": "Laboratory reports",
        "due_event": "From the first drilling",
    },
]


def _text(html: str) -> str:
    """What a reader reads: words inside a line kept together, blocks apart."""
    inline = re.sub(r"</?(?:strong|span|a|em|time)\b[^>]*>", "", html)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", inline)).split())


def _section(html: str, heading: str) -> str:
    """The HTML of the section whose h2 or h3 says ``heading``, up to the next heading."""
    start = html.index(f">{heading}</h") + 1
    ends = [i for i in (html.find("<h2", start), html.find("<h3", start)) if i != -1]
    return html[start : min(ends) if ends else len(html)]


@pytest.fixture
def conditional(world: World, community) -> int:
    """A consent with conditions under the default protocol's simple majority."""
    case_id = world.open_case(community)
    walk_to(world, case_id, "decision", community)
    world.act(
        case_id,
        "give_consent_with_conditions",
        community.rep_actors[0],
        decision(
            world, community, scope_activities=["drilling", "access_road"], scope_area=AREA,
            conditions=CONDITIONS, votes_for=2, votes_against=1,
        ),
    )  # fmt: skip
    return case_id


@pytest.fixture
def by_consensus(world: World, community) -> int:
    case_id = world.open_case(community)
    walk_to(world, case_id, "decision", community, protocol(decision_rule="consensus"))
    note = "Agreed after two days; the facilitator asked three times and no one objected."
    agreed = decision(world, community, votes_for=0, consensus=True, consensus_note=note)
    world.act(case_id, "give_consent", community.rep_actors[0], agreed)
    return case_id


def test_the_record_of_a_consent_with_conditions_holds_everything_to_print(
    world, app, signed_in, community, conditional
):
    html = signed_in("auditor").get(f"/cases/{conditional}/record").text
    text = _text(html)
    case = world.case(conditional)
    # the scope: phases, activities (by their labels where there are any) and the area
    scope = _text(_section(html, "Scope"))
    assert "Exploration" in scope
    road = "Access road" if "activity_title" in app.jinja_env.filters else "access_road"
    assert road in scope
    assert "Drilling" in scope or "drilling" in scope
    assert AREA in scope
    # the rule and how it was met
    rule = _text(_section(html, "Decision rule, and how it was met"))
    assert "Simple majority: more than half of the votes cast; quorum 60%." in rule
    assert "Tally: 2 for, 1 against, 0 abstaining; 3 present of 3 eligible." in rule
    assert "2 of 3 votes cast were in favour." in rule
    # the conditions, one row each
    conditions = [row for row in table_rows(html) if len(row) == 4]
    assert [row[0] for row in conditions] == [c["text"] for c in CONDITIONS]
    assert conditions[0][2] == "Dec 31, 2026"
    assert conditions[1][2] == "From the first drilling"
    # every disclosure the community decided on, with its day and language
    with world.db.read_session() as db:
        from fpic.storage.models import Case

        stored = db.get(Case, conditional)
        decided_on = stored.decisions[-1].disclosure_ids
        disclosures = {d.id: d for d in stored.disclosures}
        expected = sorted(
            (disclosures[i].title, disclosures[i].language, disclosures[i].disclosed_on)
            for i in decided_on
        )
    template = shipped_templates()[case.template_id]
    # every item in both languages and both formats
    assert len(expected) == len(template.required_disclosure_items) * 2 * 2
    listed = [row for row in table_rows(html) if len(row) == 6]
    assert len(listed) == len(expected)
    assert f"{len(expected)} disclosures" in text
    assert sorted(row[1] for row in listed) == sorted(title for title, _, _ in expected)
    assert {row[2] for row in listed} == {"Quechua (qu)", "Spanish (es)"}
    assert {row[4] for row in listed} == {"Mar 2, 2026"}
    # signature lines for the community's representatives present and for the proponent
    signatures = html[html.index(">Signatures</h2>") :]
    assert "For the community: Ayllu Qollana" in _text(signatures)
    assert "For the proponent: Andes Copper S.A." in _text(signatures)
    for n in (1, 2, 3):
        assert f"Representative {n} of ayllu-qollana" in _text(signatures)
    assert html.count('<div class="signature">') == 3 + 2
    assert html.count('class="sign-line"') == 5
    # the time zone, the print button (a script file, never inline) and the words without it
    assert "Times on this record are in Coordinated Universal Time (UTC)" in text
    assert re.search(
        r'<button type="button" id="print-record" hidden>Print this record</button>', html
    )
    assert "use your browser's Print command" in text
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S)
    assert ' src="/static/print.js" defer' in [attributes for attributes, _ in scripts]
    assert all(" src=" in attributes and not body.strip() for attributes, body in scripts)
    assert "onclick" not in html
    assert case.reference in text


def test_the_print_script_is_served_under_the_csp_and_prints(app, signed_in, conditional):
    auditor = signed_in("auditor")
    page = auditor.get(f"/cases/{conditional}/record")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    script = auditor.get("/static/print.js")
    assert script.status_code == 200
    body = script.get_data(as_text=True)
    script.close()
    assert "window.print()" in body
    assert 'getElementById("print-record")' in body
    assert "hidden = false" in body  # shown only where the script runs


def test_a_consensus_is_recorded_as_consensus_with_its_note(signed_in, by_consensus):
    html = signed_in("auditor").get(f"/cases/{by_consensus}/record").text
    rule = _text(_section(html, "Decision rule, and how it was met"))
    assert rule.startswith("Decision rule, and how it was met Consensus; quorum 60%.")
    assert "Decided by consensus: no objection was raised. 3 present of 3 eligible." in rule
    assert "the facilitator asked three times and no one objected" in rule
    assert "Tally" not in html
    assert "0 for" not in html
    assert "votes cast were in favour" not in html
    assert "Signatures" in html


def test_a_refusal_under_a_consensus_rule_shows_no_tally_of_zeros(world, signed_in, community):
    case_id = world.open_case(community)
    walk_to(world, case_id, "decision", community, protocol(decision_rule="consensus"))
    refused = decision(world, community, votes_for=0, consensus=False)
    world.act(case_id, "withhold_consent", community.rep_actors[0], refused)
    auditor = signed_in("auditor")
    for url in (f"/cases/{case_id}/record", f"/cases/{case_id}"):
        html = auditor.get(url).text
        assert "Under the consensus rule; no vote was counted." in html, url
        assert "0 for" not in html, url


def test_the_time_zone_is_the_one_the_times_are_written_in(world, community, conditional):
    app = create_app(
        {
            "DATABASE_URL": world.db.url, "SECRET_KEY": "test-secret", "FPIC_CLOCK": world.clock,
            "BABEL_DEFAULT_TIMEZONE": "America/Lima",
        }
    )  # fmt: skip
    browser = Browser(app.test_client())
    assert browser.login("auditor").status_code == 302
    text = _text(browser.get(f"/cases/{conditional}/record").text)
    assert "Times on this record are in Peru Time (America/Lima, GMT-05:00)" in text
    # printed at the world's clock, written in Lima's time (five hours behind UTC)
    now = world.clock.now()
    lima = format_datetime(now, "medium", tzinfo=get_timezone("America/Lima"), locale="en")
    assert lima != format_datetime(now, "medium", tzinfo=get_timezone("UTC"), locale="en")
    assert f"Printed on {' '.join(lima.split())}." in text


def test_the_print_stylesheet_fits_a4_and_letter():
    css = re.sub(r"/\*.*?\*/", "", PRINT_CSS.read_text(encoding="utf-8"), flags=re.S)
    page = re.search(r"@page\s*{([^}]*)}", css)
    assert page, "no @page rule"
    assert re.search(r"size:\s*auto", page.group(1))  # the printer's paper, A4 or Letter
    top, right, bottom, left = (
        float(v) for v in re.search(r"margin:\s*([\d.]+)mm ([\d.]+)mm ([\d.]+)mm ([\d.]+)mm",
                                    page.group(1)).groups()
    )  # fmt: skip
    a4, letter = (210.0, 297.0), (215.9, 279.4)
    width = min(a4[0], letter[0]) - left - right
    height = min(a4[1], letter[1]) - top - bottom
    assert 150 <= width <= 170
    assert height >= 220
    # no fixed width wider than the narrower page's text block
    for number, unit in re.findall(r"(?:^|[\s:;])width:\s*([\d.]+)(mm|cm|in)\b", css, re.M):
        millimetres = float(number) * {"mm": 1, "cm": 10, "in": 25.4}[unit]
        assert millimetres <= 170, (number, unit)
    assert re.search(r"max-width:\s*170mm", css)
    # neither a condition's row nor a signature block is cut by a page break
    keep = re.search(r"([^{}]*){[^}]*break-inside:\s*avoid", css)
    assert keep
    kept = {s.strip() for s in keep.group(1).split(",")}
    assert {"tr", ".signature"} <= kept
    assert re.search(r"\.no-print[^{]*{[^}]*display:\s*none", css)  # the print button's line
