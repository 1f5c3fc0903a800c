"""Issue #12 through the web: accounts made with one-time codes (nobody sets another person's
password), the community's register of representatives recorded and confirmed only by the
community's side, the case's independent people, and confidential complainants."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from fpic.storage.models import ComplainantIdentity, Enrolment, Grievance, Mandate, User
from tests.factories import PASSWORD, World, walk_to
from tests.web.conftest import Browser, csrf_token, field_errors, snapshot, table_rows

CODE = re.compile(r'<p class="digest" id="issued-code">([0-9A-Z-]+)</p>')
FLASH_ERROR = re.compile(r'<p class="flash error">(.*?)</p>', re.S)
NEW_PASSWORD = "my own chosen passphrase"


def _goes_to_login(response) -> bool:
    return response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/login"


def _post(browser: Browser, url: str, data: dict, token_page: str = "/login"):
    token = csrf_token(browser.get(token_page).text)
    return browser.client.post(url, data={"csrf_token": token, **data})


def _code(page: str) -> str:
    match = CODE.search(page)
    assert match, "the page shows no enrolment code"
    return match.group(1)


def _enrol(app, username: str, code: str, password: str = NEW_PASSWORD, again: str | None = None):
    browser = Browser(app.test_client())
    return browser, browser.submit(
        "/enrol",
        {
            "username": username,
            "code": code,
            "new_password": password,
            "new_password_again": password if again is None else again,
        },
    )


def _user(world: World, username: str) -> User:
    with world.db.read_session() as db:
        user = db.scalar(select(User).where(User.username == username))
        assert user is not None
        return user


def _new_user(**overrides: str) -> dict[str, str]:
    return {
        "username": "maria",
        "display_name": "María Quispe",
        "role": "liaison",
        "representative_id": "",
        **overrides,
    }


# --- accounts: codes, enrolment, resets ------------------------------------------------------


def test_the_admin_adds_a_user_whose_code_enrols_and_then_signs_in(world, app, signed_in):
    admin = signed_in("admin")
    response = admin.submit("/admin/users", _new_user())
    assert response.status_code == 200  # a page, not a redirect: no code in a flash cookie
    page = unescape(response.text)
    code = _code(response.text)
    assert "User maria added" in page
    assert "Give this code to maria only" in page
    with world.db.read_session() as db:
        expires = db.scalar(
            select(Enrolment.expires_at)
            .join(User, Enrolment.user_id == User.id)
            .where(User.username == "maria")
        )
    assert expires == world.clock.now() + timedelta(days=7)
    assert "Valid until Mar 9, 2026, 9:00:00" in page
    with admin.client.session_transaction() as session:  # nothing of it in the cookie
        assert code not in repr(dict(session))
    listed = next(row[:5] for row in table_rows(response.text) if row[0] == "maria")
    assert listed[:4] == ["maria", "María Quispe", "community liaison officer", ""]
    assert "no password chosen yet" in listed[4]
    # the code is not kept anywhere a later page could show it again
    assert code not in admin.get("/admin/users").text
    # before enrolling, the account cannot sign in with any password
    assert Browser(app.test_client()).login("maria", "").status_code in (400, 401)
    enrolling, done = _enrol(app, "maria", code.lower().replace("-", ""))
    assert _goes_to_login(done)
    assert "Your password is set" in unescape(enrolling.get("/login").text)
    assert Browser(app.test_client()).login("maria", NEW_PASSWORD).status_code == 302
    # the code works once
    _, again = _enrol(app, "maria", code, "yet another passphrase")
    assert again.status_code == 400


def test_the_users_page_never_shows_nor_sets_a_password_for_another_person(world, app, signed_in):
    admin = signed_in("admin")
    page = admin.get("/admin/users").text
    assert 'type="password"' not in page
    response = admin.submit("/admin/users", _new_user(password="chosen by the admin"))
    assert response.status_code == 200
    assert "chosen by the admin" not in response.text
    assert Browser(app.test_client()).login("maria", "chosen by the admin").status_code == 401
    assert _user(world, "maria").password_hash == "!"


def test_every_role_can_be_chosen_when_adding_a_user(signed_in):
    from fpic.storage.models import ROLES

    page = signed_in("admin").get("/admin/users").text
    add_form = page[page.index('id="h-add"') :]
    for role in ROLES:
        assert f'value="{role}"' in add_form


def test_a_second_account_for_a_representative_who_has_one_is_refused_and_writes_nothing(
    world, community, signed_in
):
    """The shadow-account attack: a new login for a representative, whose holder would not
    notice that someone else now acts in their name."""
    admin = signed_in("admin")
    before = snapshot(world)
    response = admin.submit(
        "/admin/users",
        _new_user(
            username="shadow", role="representative", representative_id=str(community.reps[0])
        ),
    )
    assert response.status_code == 400
    [message] = field_errors(response.text, "representative_id")
    assert "already has an account (rep-ayllu-qollana-1)" in message
    assert _code_absent(response.text)
    assert snapshot(world) == before


def _code_absent(page: str) -> bool:
    return CODE.search(page) is None


def test_a_reset_ends_the_old_password_and_shows_on_the_community_page(
    world, app, community, signed_in
):
    rep = signed_in("rep-ayllu-qollana-2")
    admin = signed_in("admin")
    user_id = _user(world, "rep-ayllu-qollana-2").id
    page = admin.get("/admin/users").text
    assert f'action="/admin/users/{user_id}/reset"' in page
    response = _post(admin, f"/admin/users/{user_id}/reset", {}, "/admin/users")
    assert response.status_code == 200
    code = _code(response.text)
    assert "Give this code to rep-ayllu-qollana-2 only" in unescape(response.text)
    # the old password no longer signs in, and the open session ended
    assert Browser(app.test_client()).login("rep-ayllu-qollana-2").status_code == 401
    assert _goes_to_login(rep.get("/"))
    # the community sees the reset: who issued it and that it is not used yet
    register = signed_in("rep-ayllu-qollana-1").get(f"/communities/{community.slug}").text
    section = register[register.index('id="h-enrolments"') :]
    rows = table_rows(section)
    reset_row = next(r for r in rows if r[1].startswith("Reset"))
    assert reset_row[0].startswith("rep-ayllu-qollana-2")
    assert "Administrator" in reset_row[3]
    assert "administrator" in reset_row[3]
    assert "not used yet" in reset_row[4]
    assert code not in register
    _, done = _enrol(app, "rep-ayllu-qollana-2", code)
    assert _goes_to_login(done)
    register = signed_in("auditor").get(f"/communities/{community.slug}").text
    reset_row = next(r for r in table_rows(register) if r[1].startswith("Reset"))
    assert "used" in reset_row[4]


def test_a_reset_of_ones_own_account_is_refused_in_the_readers_language(world, signed_in):
    admin = signed_in("admin")
    before = snapshot(world)
    response = _post(admin, f"/admin/users/{world.admin.user_id}/reset", {}, "/admin/users")
    assert response.status_code == 400
    assert "Change your own password on your account page." in unescape(response.text)
    assert _code_absent(response.text)
    assert snapshot(world) == before


def test_a_reset_of_an_unknown_account_is_refused(world, signed_in):
    response = _post(signed_in("admin"), "/admin/users/999999/reset", {}, "/admin/users")
    assert response.status_code == 400
    assert "There is no such user." in unescape(response.text)


def test_the_sign_in_page_links_to_the_enrolment_page(browser):
    page = unescape(browser.get("/login").text)
    assert 'href="/enrol"' in page
    assert "Have an enrolment code? Choose your password" in page


def test_enrolling_with_a_wrong_code_shows_the_engines_message(world, app):
    before = snapshot(world)
    _browser, response = _enrol(app, "liaison", "AAAA-BBBB-CCCC-DDDD")
    assert response.status_code == 400
    [message] = FLASH_ERROR.findall(unescape(response.text))
    assert message == (
        "The user name or the code is not right, or the code has expired or was used."
    )
    assert snapshot(world) == before
    assert Browser(app.test_client()).login("liaison").status_code == 302


def test_enrolling_with_two_different_passwords_is_refused_by_the_form(world, app, signed_in):
    issued = signed_in("admin").submit("/admin/users", _new_user())
    _, response = _enrol(app, "maria", _code(issued.text), again="something else entirely")
    assert response.status_code == 400
    assert field_errors(response.text, "new_password_again") == [
        "The two new passwords are not the same."
    ]
    assert _user(world, "maria").password_hash == "!"


def test_a_weak_password_is_refused_next_to_the_field_and_the_code_still_works(
    world, app, signed_in
):
    issued = signed_in("admin").submit("/admin/users", _new_user())
    code = _code(issued.text)
    _, response = _enrol(app, "maria", code, "short")
    assert response.status_code == 400
    assert field_errors(response.text, "new_password") == [
        "A password must have 8 to 128 characters."
    ]
    _, done = _enrol(app, "maria", code)
    assert _goes_to_login(done)


def test_guessing_codes_is_throttled_like_signing_in(world, app):
    for n in range(5):
        _, response = _enrol(app, "liaison", f"AAAA-BBBB-CCCC-{n:04d}")
        assert response.status_code == 400
    _, response = _enrol(app, "liaison", "AAAA-BBBB-CCCC-9999")
    assert response.status_code == 429
    assert "Too many failed sign-ins" in unescape(response.text)


# --- the register of representatives ------------------------------------------------------------


def _mandate_form(world: World, **overrides: str) -> dict[str, str]:
    today = world.clock.now().date()
    return {
        "representative_id": "",
        "name": "Sabina Condori",
        "gender": "woman",
        "granted_by": "Community assembly",
        "resolved_on": (today - timedelta(days=2)).isoformat(),
        "evidence": "Assembly resolution 9/2026, minute book p. 31",
        "valid_from": today.isoformat(),
        "valid_until": (today + timedelta(days=730)).isoformat(),
        **overrides,
    }


def _mandates(world: World) -> int:
    with world.db.read_session() as db:
        return len(db.scalars(select(Mandate.id)).all())


def test_the_register_shows_each_mandate_with_its_resolution_and_who_confirmed_it(
    community, signed_in
):
    page = signed_in("liaison").get(f"/communities/{community.slug}").text
    rows = table_rows(page[page.index('id="h-register"') : page.index('id="h-enrolments"')])
    first = next(r for r in rows if r[0] == "Representative 1 of ayllu-qollana")
    assert first[1].startswith("Community assembly")
    assert "Minuted: Assembly resolution 7/2026, minute book p. 12" in first[1]
    assert first[3] == "in force"
    assert "Facilitator" in first[4] or "facilitator" in first[4]
    assert "independent facilitator" in first[5]
    # the liaison sees the register, never the forms that change it
    assert "/mandates" not in page
    enrolments = table_rows(page[page.index('id="h-enrolments"') :])
    assert sum(r[1] == "New account" for r in enrolments) == 3


@pytest.mark.parametrize("who", ["liaison", "admin", "auditor", "mediator", "state-authority"])
@pytest.mark.parametrize("action", ["record", "confirm", "revoke"])
def test_the_proponents_side_and_others_cannot_change_the_register(
    world, community, signed_in, who, action
):
    browser = signed_in(who)
    with world.db.read_session() as db:
        mandate_id = db.scalar(select(Mandate.id).order_by(Mandate.id))
    url, data = {
        "record": (f"/communities/{community.slug}/mandates", _mandate_form(world)),
        "confirm": (f"/communities/{community.slug}/mandates/{mandate_id}/confirm", {}),
        "revoke": (
            f"/communities/{community.slug}/mandates/{mandate_id}/revoke",
            {
                f"revoke-{mandate_id}-resolution": "Assembly resolution 10/2026",
                f"revoke-{mandate_id}-effective_on": world.clock.now().date().isoformat(),
            },
        ),
    }[action]
    before = snapshot(world)
    response = _post(browser, url, data, f"/communities/{community.slug}")
    assert response.status_code == 403
    assert snapshot(world) == before


def test_the_facilitator_of_a_case_records_and_confirms_a_mandate_through_the_web(
    world, community, signed_in
):
    facilitator = signed_in("facilitator")
    page = facilitator.get(f"/communities/{community.slug}").text
    assert f'action="/communities/{community.slug}/mandates"' in page
    before = _mandates(world)
    response = facilitator.submit(
        f"/communities/{community.slug}",
        _mandate_form(world),
        post_url=f"/communities/{community.slug}/mandates",
    )
    assert response.status_code == 302, response.text[:2000]
    assert _mandates(world) == before + 1
    page = facilitator.get(f"/communities/{community.slug}").text
    row = next(r for r in table_rows(page) if r[0] == "Sabina Condori")
    assert row[3] == "pending confirmation"
    with world.db.read_session() as db:
        mandate = db.scalars(select(Mandate).order_by(Mandate.id.desc())).first()
        assert mandate is not None
        assert mandate.confirmed_at is None
        mandate_id = mandate.id
    response = _post(
        facilitator,
        f"/communities/{community.slug}/mandates/{mandate_id}/confirm",
        {},
        f"/communities/{community.slug}",
    )
    assert response.status_code == 302
    page = facilitator.get(f"/communities/{community.slug}").text
    row = next(r for r in table_rows(page) if r[0] == "Sabina Condori")
    assert row[3] == "in force"
    assert "facilitator" in row[5]
    trail = signed_in("auditor").get("/audit/?action=confirm_mandate").text
    assert "Confirm a mandate" in trail


def test_a_facilitator_of_no_case_of_the_community_is_refused_with_the_reason(
    world, community, other_community, signed_in
):
    """The facilitator of ayllu-qollana's registration case was also used for uma-jaqi's:
    a second facilitator, assigned nowhere, is refused by the engine with its reason."""
    world.add_account("facilitator-2", "facilitator")
    stranger = signed_in("facilitator-2")
    before = snapshot(world)
    response = stranger.submit(
        f"/communities/{community.slug}",
        _mandate_form(world),
        post_url=f"/communities/{community.slug}/mandates",
    )
    assert response.status_code == 403
    assert "Only the facilitator of one of this community's cases may do this." in unescape(
        response.text
    )
    assert snapshot(world) == before


def test_a_mandated_representative_ends_a_mandate_from_a_date(world, community, signed_in):
    rep = signed_in("rep-ayllu-qollana-1")
    with world.db.read_session() as db:
        mandate_id = db.scalar(
            select(Mandate.id).where(Mandate.representative_id == community.reps[2])
        )
    effective = world.clock.now().date() + timedelta(days=5)
    response = rep.submit(
        f"/communities/{community.slug}",
        {
            f"revoke-{mandate_id}-resolution": "Assembly resolution 11/2026, minute book p. 40",
            f"revoke-{mandate_id}-effective_on": effective.isoformat(),
        },
        post_url=f"/communities/{community.slug}/mandates/{mandate_id}/revoke",
    )
    assert response.status_code == 302, response.text[:2000]
    page = unescape(rep.get(f"/communities/{community.slug}").text)
    row = next(r for r in table_rows(page) if r[0] == "Representative 3 of ayllu-qollana")
    assert row[3].startswith("ended")
    assert "Assembly resolution 11/2026, minute book p. 40" in row[3]
    # ending it again is refused, with the engine's message above the forms
    response = _post(
        rep,
        f"/communities/{community.slug}/mandates/{mandate_id}/revoke",
        {
            f"revoke-{mandate_id}-resolution": "Again",
            f"revoke-{mandate_id}-effective_on": effective.isoformat(),
        },
        f"/communities/{community.slug}",
    )
    assert response.status_code == 400
    assert "This mandate has already been ended." in unescape(response.text)


def test_a_mandate_with_bad_data_shows_the_engines_message_next_to_the_field(
    world, community, signed_in
):
    facilitator = signed_in("facilitator")
    before = snapshot(world)
    future = (world.clock.now().date() + timedelta(days=3)).isoformat()
    response = facilitator.submit(
        f"/communities/{community.slug}",
        _mandate_form(world, resolved_on=future),
        post_url=f"/communities/{community.slug}/mandates",
    )
    assert response.status_code == 400
    assert field_errors(response.text, "resolved_on") == [
        "“Resolution passed on” cannot be in the future."
    ]
    assert snapshot(world) == before


def test_nobody_confirms_their_own_mandate(world, community, signed_in):
    facilitator = signed_in("facilitator")
    response = facilitator.submit(
        f"/communities/{community.slug}",
        _mandate_form(world, representative_id=str(community.reps[0]), name=""),
        post_url=f"/communities/{community.slug}/mandates",
    )
    assert response.status_code == 302
    with world.db.read_session() as db:
        mandate_id = db.scalar(select(Mandate.id).order_by(Mandate.id.desc()))
    holder = signed_in("rep-ayllu-qollana-1")
    before = snapshot(world)
    response = _post(
        holder,
        f"/communities/{community.slug}/mandates/{mandate_id}/confirm",
        {},
        f"/communities/{community.slug}",
    )
    assert response.status_code == 403
    assert "Nobody may confirm their own mandate" in unescape(response.text)
    assert snapshot(world) == before


# --- the case's independent people -----------------------------------------------------------


def test_a_representative_assigns_the_mediator_through_the_form(world, community, signed_in):
    case_id = world.open_case(community)
    rep = signed_in("rep-ayllu-qollana-1")
    form = rep.get(f"/cases/{case_id}/actions/assign_independent").text
    assert 'value="mediator"' in form
    assert 'value="facilitator"' in form
    response = rep.submit(
        f"/cases/{case_id}/actions/assign_independent",
        {"role": "mediator", "username": "mediator", "text": "Chosen by the assembly."},
    )
    assert response.status_code == 302, response.text[:2000]
    assert world.case(case_id).mediator_id == world.mediator.user_id
    page = unescape(signed_in("liaison").get(f"/cases/{case_id}").text)
    assert "Independent grievance mediator" in page
    assert f"({world.mediator.username})" in page


def test_the_protocol_form_offers_the_facilitator_and_the_mediator(world, community, signed_in):
    case_id = world.open_case(community)
    walk_to(world, case_id, "protocol", community)
    page = signed_in("rep-ayllu-qollana-1").get(f"/cases/{case_id}/actions/agree_protocol").text
    assert 'id="facilitator"' in page
    assert 'id="mediator"' in page
    assert '<option value="mediator">' in page


def test_the_integrity_flag_and_grievance_forms_take_concerns_with_a_hint(
    world, community, signed_in
):
    case_id = world.open_case(community)
    rep = signed_in("rep-ayllu-qollana-1")
    for trigger in ("raise_integrity_flag", "lodge_grievance"):
        page = rep.get(f"/cases/{case_id}/actions/{trigger}").text
        assert 'id="concerns"' in page
        assert 'aria-describedby="concerns-hint"' in page
    page = unescape(rep.get(f"/cases/{case_id}/actions/lodge_grievance").text)
    assert 'aria-describedby="confidential-hint"' in page
    assert "never who raised it" in page
    response = rep.submit(
        f"/cases/{case_id}/actions/raise_integrity_flag",
        {"category": "bribery", "description": "Envelopes at the fair.", "concerns": "liaison"},
    )
    assert response.status_code == 302, response.text[:2000]
    assert "About: liaison" in unescape(rep.get(f"/cases/{case_id}").text)


# --- confidential complainants ---------------------------------------------------------------

NAME = "Juana Quispe Mamani"


@pytest.fixture
def confidential_grievance(world: World, community, signed_in) -> int:
    case_id = world.open_case(community)
    walk_to(world, case_id, "monitoring", community)
    response = signed_in("rep-ayllu-qollana-1").submit(
        f"/cases/{case_id}/actions/lodge_grievance",
        {
            "category": "process_integrity",
            "channel": "through_representative",
            "complainant": NAME,
            "confidential": "y",
            "language": "qu",
            "text": "Qullqita rakirqanku asambleaman manaraq.",
            "received_on": world.clock.now().date().isoformat(),
            "condition_id": "",
            "concerns": "liaison",
        },
    )
    assert response.status_code == 302, response.text[:3000]
    with world.db.read_session() as db:
        [grievance] = db.scalars(select(Grievance)).all()
        assert grievance.confidential
        assert grievance.complainant is None
        assert db.get(ComplainantIdentity, grievance.id).name == NAME
    return case_id


def test_a_confidential_complainant_never_reaches_the_proponents_pages(
    world, signed_in, confidential_grievance
):
    case_id = confidential_grievance
    for who in ("liaison", "admin", "state-authority", "facilitator"):
        browser = signed_in(who)
        urls = {
            "case": f"/cases/{case_id}",
            "record": f"/cases/{case_id}/record",
            "trail": f"/audit/?case={case_id}",
            "whole trail": "/audit/",
            "export jsonl": f"/audit/export?format=jsonl&case={case_id}",
            "export csv": f"/audit/export?format=csv&case={case_id}",
            "whole export": "/audit/export?format=jsonl",
            "dashboard": "/",
        }
        for name, url in urls.items():
            response = browser.get(url)
            assert response.status_code == 200, (who, name)
            text = unescape(response.get_data(as_text=True))
            response.close()
            assert "Juana" not in text, (who, name)  # not even the first name
            if name == "case":
                assert "confidential complainant" in text


def test_the_auditor_and_the_communitys_representatives_see_the_confidential_name(
    signed_in, confidential_grievance
):
    for who in ("auditor", "rep-ayllu-qollana-2"):
        page = unescape(signed_in(who).get(f"/cases/{confidential_grievance}").text)
        assert NAME in page, who
        assert "confidential" in page


def test_an_anonymous_grievance_stays_anonymous(world, community, signed_in):
    case_id = world.open_case(community)
    walk_to(world, case_id, "monitoring", community)
    response = signed_in("rep-ayllu-qollana-1").submit(
        f"/cases/{case_id}/actions/lodge_grievance",
        {
            "category": "impacts",
            "channel": "anonymous_box",
            "anonymous": "y",
            "language": "qu",
            "text": "Yakuqa qhillichasqa.",
            "received_on": world.clock.now().date().isoformat(),
            "condition_id": "",
        },
    )
    assert response.status_code == 302
    for who in ("auditor", "liaison"):
        page = signed_in(who).get(f"/cases/{case_id}").text
        assert "· anonymous" in unescape(page)
        assert "confidential complainant" not in unescape(page)


def test_the_reset_route_needs_a_csrf_token(world, signed_in):
    admin = signed_in("admin")
    before = snapshot(world)
    user_id = _user(world, "liaison").id
    response = admin.client.post(f"/admin/users/{user_id}/reset", data={})
    assert response.status_code == 400
    assert snapshot(world) == before
    assert Browser(admin.client.application.test_client()).login("liaison").status_code == 302


def test_the_enrolment_page_works_without_javascript_and_labels_every_field(browser):
    page = browser.get("/enrol").text
    assert "<script" not in page
    for name in ("username", "code", "new_password", "new_password_again"):
        assert f'<label for="{name}">' in page
    assert 'aria-describedby="code-hint"' in page
    assert PASSWORD not in page
