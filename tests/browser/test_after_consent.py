"""After consent, in a real browser: a grievance from intake by a community representative to
its closure, each step by the person whose job it is, then the community withdraws its consent."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from fpic.storage.models import Grievance
from tests.browser.conftest import LiveServer, PageFactory, sign_in
from tests.browser.test_walkthrough import current_stage, do_action, submit_action
from tests.factories import Community, walk_to

COMPLAINT_QU = "Mayupi yaku qhillichakun; uywakuna unquchkanku."


def _step(page: Page, title: str, fields: dict[str, str]) -> None:
    """The other party acted meanwhile: the page is read afresh, as a person comes back to it
    (a grievance step shows only when a grievance stands at it)."""
    page.reload()
    do_action(page, title)
    for label, value in fields.items():
        page.get_by_label(label, exact=True).fill(value)
    submit_action(page, title)


def test_a_grievance_from_intake_to_closure_then_withdrawal_of_consent(
    live_server: LiveServer, community: Community, new_page: PageFactory
) -> None:
    base, world = live_server.url, live_server.world
    case_id = world.open_case(community)
    walk_to(world, case_id, "monitoring", community)
    case_url = f"{base}/cases/{case_id}"

    rep = new_page("representative")
    sign_in(rep, base, "rep-ayllu-qollana-1")
    rep.goto(case_url)
    do_action(rep, "Lodge a grievance")
    rep.get_by_label("What the grievance is about").select_option(label="Impacts of the project")
    rep.get_by_label("How it was received").select_option(label="Oral")
    rep.get_by_label("The complainant wants to stay anonymous").check()
    rep.get_by_label("Language of the grievance (code)").fill("qu")
    rep.get_by_label("The grievance, in the complainant's words").fill(COMPLAINT_QU)
    submit_action(rep, "Lodge a grievance")
    grievances = rep.get_by_role("region", name="Grievances")
    expect(grievances).to_contain_text(COMPLAINT_QU)
    expect(grievances).to_contain_text("received")

    liaison = new_page("liaison")
    sign_in(liaison, base, "liaison")
    liaison.goto(case_url)
    _step(liaison, "Acknowledge a grievance", {"Message to the complainant": "Visit on Monday."})
    # the representative's page was drawn before the acknowledgement: a grievance step shows
    # only when a grievance stands at it
    rep.reload()
    do_action(rep, "Assess a grievance")
    rep.get_by_label("Assessment", exact=True).fill("The canal carries mud from the road works.")
    rep.get_by_label("The grievance is founded (upheld)").check()
    submit_action(rep, "Assess a grievance")
    _step(liaison, "Respond to a grievance", {"Response or remedy": "Silt fence and tankers."})
    _step(rep, "Check for retaliation", {"How it was checked, and what was found": "None."})
    liaison.reload()
    do_action(liaison, "Close a grievance")
    liaison.get_by_label("Resolution", exact=True).fill("Canal clear since the fence.")
    liaison.get_by_label("Did the complainant accept it?").select_option(
        label="The complainant could not be asked"
    )
    submit_action(liaison, "Close a grievance")
    expect(liaison.get_by_role("region", name="Grievances")).to_contain_text("closed")
    with world.db.read_session() as session:
        [grievance] = session.query(Grievance).all()
        assert (grievance.status, grievance.upheld, grievance.anonymous) == ("closed", True, True)
        assert grievance.retaliation_checked_at is not None

    do_action(rep, "Withdraw consent")
    rep.get_by_label("Drilling", exact=True).check()
    rep.get_by_label("Reasons (optional)").fill("The springs above the camp dried up.")
    submit_action(rep, "Withdraw consent")
    assert current_stage(rep) == "Consent withdrawn"
    assert world.case(case_id).stage == "withdrawn"
