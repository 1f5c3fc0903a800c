"""The decision trail pages and downloads, signing in and out, changing one's password, user
administration (roles included), security headers, start-up configuration and the language
switcher."""

from __future__ import annotations

import csv
import io
import re
from html import unescape
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from fpic.storage.models import TrailEvent, User, UserSession
from fpic.trail import audit
from fpic.workflow.errors import InvalidTransition
from tests.factories import PASSWORD, World, territory
from tests.web.conftest import Browser, csrf_token, field_errors, snapshot, table_rows
from web import ConfigurationError, create_app

FLASH_ERROR = re.compile(r'<p class="flash error">(.*?)</p>', re.S)
FLASH_SUCCESS = re.compile(r'<p class="flash success">(.*?)</p>', re.S)
NEW_PASSWORD = "a brand new passphrase"


def _goes_to_login(response) -> bool:
    return response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/login"


def _post(browser: Browser, url: str, data: dict, token_page: str = "/login"):
    token = csrf_token(browser.get(token_page).text)
    return browser.client.post(url, data={"csrf_token": token, **data})


# --- the trail page ------------------------------------------------------------------------


@pytest.fixture
def trail_world(world: World, community, other_community) -> dict[str, int]:
    """Two cases of one community and one of another, acted on over two days, with one
    refused attempt."""
    a1, a2, b1 = (
        world.open_case(community),
        world.open_case(community),
        world.open_case(other_community),
    )
    world.act(a1, "screen_in", world.liaison, {"text": "FPIC applies."})
    world.clock.advance(days=10)
    world.act(a2, "screen_in", world.liaison, {"text": "FPIC applies here too."})
    world.act(a1, "confirm_rights_holders", world.liaison, {"text": "Assembly registered."})
    world.act(a1, "complete_mapping", community.rep_actors[0], territory(text="Maps signed off."))
    with pytest.raises(InvalidTransition):
        world.act(a2, "complete_mapping", community.rep_actors[0], {"text": "Too early."})
    # each community's first case is the one its register was recorded under
    return {"a1": a1, "a2": a2, "b1": b1, "a_reg": community.registration_case}


def _shown(page: str) -> set[tuple[str, int]]:
    """(chain, seq) of every event listed on a trail page."""
    return {(row[1], int(row[2])) for row in table_rows(page) if len(row) == 7}


def _stored(world: World, *where) -> set[tuple[str, int]]:
    with world.db.read_session() as db:
        return set(db.execute(select(TrailEvent.chain, TrailEvent.seq).where(*where)).all())


def _stored_trail(world: World, *where) -> set[tuple[str, int]]:
    """What the trail's main view lists: every chain but access (the sign-ins have their own)."""
    return _stored(world, TrailEvent.chain != audit.ACCESS_CHAIN, *where)


def test_trail_filters_list_only_the_matching_events(world, signed_in, trail_world):
    auditor = signed_in("auditor")
    a1 = trail_world["a1"]
    cases = {
        f"case={a1}": [TrailEvent.chain == audit.case_chain(a1)],
        "person=rep-ayllu-qollana-1": [TrailEvent.actor == "rep-ayllu-qollana-1"],
        "action=screen_in": [TrailEvent.action == "screen_in"],
        "since=2026-03-12": [TrailEvent.at >= "2026-03-12"],
        "until=2026-03-02": [TrailEvent.at < "2026-03-03"],
        "since=2026-03-12&until=2026-03-12&person=liaison": [
            TrailEvent.at >= "2026-03-12",
            TrailEvent.at < "2026-03-13",
            TrailEvent.actor == "liaison",
        ],
        f"case={a1}&action=complete_mapping": [
            TrailEvent.chain == audit.case_chain(a1),
            TrailEvent.action == "complete_mapping",
        ],
    }
    everything = _stored_trail(world)
    for query, where in cases.items():
        response = auditor.get(f"/audit/?{query}")
        assert response.status_code == 200, query
        expected = _stored_trail(world, *where)
        assert expected, f"the filter {query} should match something"
        assert expected != everything, f"the filter {query} should leave something out"
        assert _shown(response.text) == expected, query


def test_trail_of_a_case_shows_the_chain_verified(world, signed_in, trail_world):
    page = signed_in("auditor").get(f"/audit/?case={trail_world['a1']}").text
    assert '<span class="badge ok">verified</span>' in page
    reference = world.case(trail_world["a1"]).reference
    assert f"The chain of case {reference} is intact: 4 events." in page


def test_trail_lists_a_refused_attempt_with_its_reason(signed_in, trail_world):
    page = signed_in("auditor").get(f"/audit/?case={trail_world['a2']}").text
    refused = [row for row in table_rows(page) if len(row) == 7 and "refused" in row[5]]
    assert len(refused) == 1
    assert "cannot be done while the case is at the stage" in unescape(refused[0][5])


def test_a_representative_sees_only_their_communitys_chains(world, signed_in, trail_world):
    rep = signed_in("rep-ayllu-qollana-1")
    own = {audit.case_chain(trail_world[k]) for k in ("a1", "a2", "a_reg")}
    shown = _shown(rep.get("/audit/").text)
    assert {chain for chain, _ in shown} == own
    assert shown == _stored(world, TrailEvent.chain.in_(own))
    # filters cannot reach past the community either
    for query in ("person=liaison", "action=sign_in", "person=rep-uma-jaqi-1"):
        chains = {chain for chain, _ in _shown(rep.get(f"/audit/?{query}").text)}
        assert chains <= own, query
    assert _shown(rep.get("/audit/?action=sign_in").text) == set()
    assert rep.get(f"/audit/?case={trail_world['b1']}").status_code == 404


def test_a_liaison_sees_every_case_chain_but_not_the_system_chain(world, signed_in, trail_world):
    shown = _shown(signed_in("liaison").get("/audit/").text)
    assert shown == _stored(world, TrailEvent.chain.not_in(audit.NON_CASE_CHAINS))
    assert _shown(signed_in("liaison").get("/audit/?action=sign_in").text) == set()
    assert signed_in("liaison").get("/audit/access").status_code == 403
    signed_in("auditor")  # the auditor's sign-in is on the access chain, and shown to them
    assert _shown(signed_in("auditor").get("/audit/?action=sign_in").text) == set()  # apart
    assert "Sign in" in signed_in("auditor").get("/audit/access").text


# --- downloads ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@pytest.mark.parametrize("whole", [True, False], ids=["whole trail", "one case"])
def test_an_export_download_verifies(world, signed_in, trail_world, fmt, whole):
    auditor = signed_in("auditor")
    a1 = trail_world["a1"]
    url = f"/audit/export?format={fmt}" + ("" if whole else f"&case={a1}")
    response = auditor.get(url)
    assert response.status_code == 200
    expected_name = f"fpic-trail{'' if whole else f'-case-{a1}'}.{fmt}"
    assert response.headers["Content-Disposition"] == f'attachment; filename="{expected_name}"'
    result = audit.verify_export(io.StringIO(response.get_data(as_text=True)))
    assert result.intact, result.first_break
    stored = _stored(world) if whole else _stored(world, TrailEvent.chain == audit.case_chain(a1))
    assert result.events == len(stored)
    assert result.chains == len({chain for chain, _ in stored})


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_representatives_export_holds_only_their_communitys_chains_and_verifies(
    world, signed_in, trail_world, fmt
):
    text = (
        signed_in("rep-ayllu-qollana-1").get(f"/audit/export?format={fmt}").get_data(as_text=True)
    )
    result = audit.verify_export(io.StringIO(text))
    assert result.intact
    rows = list(audit.read_jsonl(io.StringIO(text)) if fmt == "jsonl" else audit.read_csv(
        io.StringIO(text)
    ))  # fmt: skip
    own = {audit.case_chain(trail_world[k]) for k in ("a1", "a2", "a_reg")}
    assert {row["chain"] for row in rows} == own
    assert result.events == len(_stored(world, TrailEvent.chain.in_(own)))


def test_csv_download_neutralises_cells_a_spreadsheet_would_run(world, browser, signed_in):
    formulas = ["=1+2", "+SUM(A1:A9)", "-2+3", "@cmd|' /C calc'!A0"]
    for name in formulas:  # a sign-in attempt puts the typed user name on the trail
        assert browser.login(name, "whatever it is").status_code == 401
    text = signed_in("auditor").get("/audit/export?format=csv").get_data(as_text=True)
    cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@"))]
    for name in formulas:
        assert "'" + name in cells
    assert audit.verify_export(io.StringIO(text)).intact  # the escape is undone to verify


# --- signing in and out ---------------------------------------------------------------------


def test_wrong_password_and_unknown_user_get_the_same_answer_and_both_go_on_the_trail(world, app):
    answers = []
    for username in ("liaison", "nobody-here"):
        response = Browser(app.test_client()).login(username, "not the password")
        answers.append((response.status_code, FLASH_ERROR.findall(response.text)))
    assert answers[0] == answers[1] == (401, ["The user name or the password is not right."])
    with world.db.read_session() as db:
        refused = db.scalars(
            select(TrailEvent).where(
                TrailEvent.chain == audit.ACCESS_CHAIN,
                TrailEvent.action == "sign_in",
                TrailEvent.outcome == "refused",
            )
        ).all()
    assert [(e.actor, e.data) for e in refused] == [
        ("liaison", '{"reason":"bad_credentials"}'),
        ("nobody-here", '{"reason":"bad_credentials"}'),
    ]


def test_a_signed_out_session_cannot_be_replayed(world, app, signed_in):
    liaison = signed_in("liaison")
    old_cookie = liaison.client.get_cookie("session").value
    assert liaison.get("/").status_code == 200
    assert liaison.get("/logout").status_code == 405  # signing out is a POST
    response = _post(liaison, "/logout", {}, token_page="/")
    assert _goes_to_login(response)
    assert _goes_to_login(liaison.get("/"))
    replay = app.test_client()
    replay.set_cookie("session", old_cookie)
    assert _goes_to_login(replay.get("/"))
    with world.db.read_session() as db:
        ended = db.scalars(select(UserSession.ended_at)).all()
    assert len(ended) == 1
    assert ended[0] is not None


def test_sign_in_starts_a_new_session_keeping_only_the_language(app):
    browser = Browser(app.test_client())
    browser.get("/login")
    with browser.client.session_transaction() as session:
        session["planted"] = "by someone else"
        session["locale"] = "es"
    before = browser.client.get_cookie("session").value
    assert browser.login("liaison").status_code == 302
    after = browser.client.get_cookie("session").value
    assert after != before
    with browser.client.session_transaction() as session:
        assert "planted" not in session
        assert session["locale"] == "es"
        first_token = session["_user_id"]
    # signing in again gives another server-side session
    again = Browser(app.test_client())
    assert again.login("liaison").status_code == 302
    with again.client.session_transaction() as session:
        assert session["_user_id"] != first_token


def test_disabling_a_user_ends_their_live_session_at_once(world, app, signed_in):
    liaison = signed_in("liaison")
    assert liaison.get("/").status_code == 200
    admin = signed_in("admin")
    with world.db.read_session() as db:
        liaison_id = db.scalar(select(User.id).where(User.username == "liaison"))
    users_page = admin.get("/admin/users").text
    assert f'action="/admin/users/{liaison_id}/active"' in users_page
    response = _post(admin, f"/admin/users/{liaison_id}/active", {"active": "0"}, "/admin/users")
    assert response.status_code == 302
    assert "Account disabled; its sessions ended." in admin.get("/admin/users").text
    assert _goes_to_login(liaison.get("/"))
    assert Browser(app.test_client()).login("liaison").status_code == 401
    trail = signed_in("auditor").get("/audit/?action=disable_user").text
    assert "Disable a user account" in trail


def test_the_admin_adds_a_user_who_then_chooses_a_password_and_signs_in(world, app, signed_in):
    admin = signed_in("admin")
    response = admin.submit(
        "/admin/users",
        {
            "username": "maria",
            "display_name": "María Quispe",
            "role": "liaison",
            "representative_id": "",
        },
    )
    assert response.status_code == 200  # the one-time code is shown once, on this page
    page = unescape(response.text)
    assert "User maria added" in page
    code = re.search(r'<p class="digest" id="issued-code">([0-9A-Z-]+)</p>', page)
    assert code is not None
    listed = next(row[:4] for row in table_rows(page) if row[0] == "maria")
    assert listed == ["maria", "María Quispe", "community liaison officer", ""]
    enrolling = Browser(app.test_client())
    done = enrolling.submit(
        "/enrol",
        {
            "username": "maria",
            "code": code.group(1),
            "new_password": "a long enough secret",
            "new_password_again": "a long enough secret",
        },
    )
    assert _goes_to_login(done)
    assert Browser(app.test_client()).login("maria", "a long enough secret").status_code == 302


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (
            {"role": "representative"},
            "representative_id",
            "A representative's account must be linked to a registered representative, "
            "and only theirs.",
        ),
        ({"username": "liaison"}, "username", "This user name is already taken."),
        ({"username": ""}, "username", "This field is required."),
        (
            {"username": "María"},
            "username",
            "“User name” may hold lower-case letters, digits, - and _.",
        ),
    ],
    ids=["representative without a registry entry", "taken name", "no name", "bad name"],
)
def test_adding_a_user_with_bad_data_shows_the_message_next_to_the_field(
    world, signed_in, data, field, message
):
    admin = signed_in("admin")
    before = snapshot(world)
    form = {
        "username": "maria",
        "display_name": "María Quispe",
        "role": "liaison",
        "representative_id": "",
        **data,
    }
    response = admin.submit("/admin/users", form)
    assert response.status_code == 400
    assert field_errors(response.text, field) == [message]
    assert "issued-code" not in response.text
    assert snapshot(world) == before


# --- changing one's password ----------------------------------------------------------------


def _user_id(world: World, username: str) -> int:
    with world.db.read_session() as db:
        found = db.scalar(select(User.id).where(User.username == username))
    assert found is not None
    return found


def _in_spanish(browser: Browser) -> Browser:
    assert _post(browser, "/language", {"locale": "es", "next": "/"}, "/").status_code == 302
    return browser


def test_changing_ones_password_signs_out_every_session_of_that_person(world, app, signed_in):
    here, elsewhere, auditor = signed_in("liaison"), signed_in("liaison"), signed_in("auditor")
    assert 'href="/account/password"' in here.get("/").text
    response = here.submit(
        "/account/password",
        {
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "new_password_again": NEW_PASSWORD,
        },
    )
    assert _goes_to_login(response)
    login_page = here.get("/login").text
    assert FLASH_SUCCESS.findall(login_page) == [
        "Your password was changed. Sign in with your new password."
    ]
    assert _goes_to_login(here.get("/"))
    assert _goes_to_login(elsewhere.get("/"))  # the other live session ended on the server
    assert auditor.get("/").status_code == 200
    assert Browser(app.test_client()).login("liaison").status_code == 401
    assert Browser(app.test_client()).login("liaison", NEW_PASSWORD).status_code == 302
    with world.db.read_session() as db:
        changes = db.scalars(
            select(TrailEvent).where(
                TrailEvent.chain == audit.SYSTEM_CHAIN, TrailEvent.action == "change_password"
            )
        ).all()
        assert audit.verify_database(db).intact
    assert [(e.actor, e.outcome) for e in changes] == [("liaison", "done")]
    trail = auditor.get("/audit/?action=change_password").text
    assert "Change a password" in trail


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (
            {"current_password": "not my password"},
            "current_password",
            "Esta no es su contraseña actual.",
        ),
        (
            {"new_password": "short", "new_password_again": "short"},
            "new_password",
            "La contraseña debe tener entre 8 y 128 caracteres.",
        ),
        (
            {"new_password_again": "something else entirely"},
            "new_password_again",
            "Las dos contraseñas nuevas no coinciden.",
        ),
    ],
    ids=["wrong current password", "too short", "not the same twice"],
)
def test_a_refused_password_change_is_explained_next_to_the_field_in_spanish(
    world, signed_in, data, field, message
):
    liaison = _in_spanish(signed_in("liaison"))
    before = snapshot(world)
    form = {
        "current_password": PASSWORD,
        "new_password": NEW_PASSWORD,
        "new_password_again": NEW_PASSWORD,
        **data,
    }
    response = liaison.submit("/account/password", form)
    assert response.status_code == 400
    assert '<html lang="es">' in response.text
    assert field_errors(response.text, field) == [message]
    assert snapshot(world) == before
    assert liaison.get("/").status_code == 200  # still signed in, with the old password
    assert Browser(liaison.client.application.test_client()).login("liaison").status_code == 302


def test_repeated_wrong_current_passwords_are_throttled_in_the_readers_language(signed_in):
    from fpic.accounts.sessions import THROTTLE_FAILURES

    liaison = _in_spanish(signed_in("liaison"))
    wrong = {
        "current_password": "a guess at it",
        "new_password": NEW_PASSWORD,
        "new_password_again": NEW_PASSWORD,
    }
    for _ in range(THROTTLE_FAILURES):
        assert liaison.submit("/account/password", wrong).status_code == 400
    right = {**wrong, "current_password": PASSWORD}
    throttled = liaison.submit("/account/password", right)
    assert throttled.status_code == 429
    assert [unescape(m) for m in FLASH_ERROR.findall(throttled.text)] == [
        "Demasiadas contraseñas incorrectas para esta cuenta; espere 15 minutos."
    ]


# --- changing an account's role --------------------------------------------------------------


def test_the_admin_changes_a_role_and_that_persons_session_ends(world, app, signed_in):
    liaison = signed_in("liaison")
    admin = signed_in("admin")
    liaison_id = _user_id(world, "liaison")
    page = admin.get("/admin/users").text
    assert f'action="/admin/users/{liaison_id}/role"' in page
    assert f'action="/admin/users/{_user_id(world, "admin")}/role"' not in page  # not oneself
    response = _post(admin, f"/admin/users/{liaison_id}/role", {"role": "auditor"}, "/admin/users")
    assert response.status_code == 302
    page = admin.get("/admin/users").text
    assert [unescape(m) for m in FLASH_SUCCESS.findall(page)] == [
        "Role changed to auditor; the account's sessions ended."
    ]
    assert next(row[2] for row in table_rows(page) if row[0] == "liaison") == "auditor"
    assert _goes_to_login(liaison.get("/"))
    again = Browser(app.test_client())
    assert again.login("liaison").status_code == 302
    assert again.get("/admin/users").status_code == 403
    assert again.get("/audit/verify").status_code == 200  # an auditor's page now


@pytest.mark.parametrize(
    ("username", "role", "message"),
    [
        (
            "rep-ayllu-qollana-1",
            "liaison",
            "La cuenta de un representante no puede recibir otro rol: está ligada al mandato "
            "de su comunidad. Desactívela y agregue una cuenta nueva.",
        ),
        (
            "liaison",
            "representative",
            "Una cuenta no puede convertirse en la de un representante: la cuenta de un "
            "representante se agrega ligada al representante registrado y al mandato de su "
            "comunidad.",
        ),
        (
            "admin",
            "liaison",
            "No puede quitarse su propio rol de administrador; otro administrador sí puede.",
        ),
    ],
    ids=["representative to liaison", "liaison to representative", "own admin role"],
)
def test_role_changes_the_admin_may_not_make_are_explained_in_spanish(
    world, signed_in, community, username, role, message
):
    person = signed_in(username)
    admin = _in_spanish(signed_in("admin"))
    user_id = _user_id(world, username)
    before = snapshot(world)
    with world.db.read_session() as db:
        role_before = db.scalar(select(User.role).where(User.id == user_id))
    response = _post(admin, f"/admin/users/{user_id}/role", {"role": role}, "/admin/users")
    assert response.status_code == 400
    assert '<html lang="es">' in response.text
    assert [unescape(m) for m in FLASH_ERROR.findall(response.text)] == [message]
    assert snapshot(world) == before
    with world.db.read_session() as db:
        assert db.scalar(select(User.role).where(User.id == user_id)) == role_before
    assert person.get("/").status_code == 200


def test_a_representatives_row_offers_no_role_change(world, signed_in, community):
    page = signed_in("admin").get("/admin/users").text
    rep_id = _user_id(world, "rep-ayllu-qollana-1")
    assert f'action="/admin/users/{rep_id}/role"' not in page
    assert f'action="/admin/users/{rep_id}/active"' in page
    assert "Role tied to the community's mandate" in unescape(page)


# --- security headers and configuration -----------------------------------------------------


@pytest.mark.parametrize("url", ["/", "/login", "/cases/999999"])
def test_pages_carry_the_security_headers(signed_in, url):
    response = signed_in("liaison").get(url)
    csp = response.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in csp
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cache-Control"] == "no-store"


def test_the_session_cookie_is_http_only_and_same_site_lax(app):
    response = Browser(app.test_client()).login("liaison")
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_production_without_a_secret_key_does_not_start(world, monkeypatch):
    monkeypatch.setenv("FPIC_ENV", "production")
    monkeypatch.delenv("FPIC_SECRET_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="FPIC_SECRET_KEY"):
        create_app({"DATABASE_URL": world.db.url})
    with pytest.raises(ConfigurationError, match="FPIC_SECRET_KEY"):
        create_app({"DATABASE_URL": world.db.url, "FPIC_ENV": "production", "SECRET_KEY": ""})


def test_production_with_a_secret_key_starts_with_secure_cookies(world, monkeypatch):
    monkeypatch.setenv("FPIC_ENV", "production")
    monkeypatch.setenv("FPIC_SECRET_KEY", "x" * 64)
    app = create_app({"DATABASE_URL": world.db.url})
    assert app.config["SECRET_KEY"] == "x" * 64
    assert app.config["SESSION_COOKIE_SECURE"] is True
    response = app.test_client().get("/login", base_url="https://fpic.example")
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "Secure" in cookie


# --- the language switcher ------------------------------------------------------------------


def test_a_visitors_language_choice_applies_to_the_next_page(app):
    browser = Browser(app.test_client())
    assert '<html lang="en">' in browser.get("/login").text
    response = _post(browser, "/language", {"locale": "es", "next": "/login"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert '<html lang="es">' in browser.get("/login").text


def test_a_signed_in_persons_language_choice_is_saved_for_their_next_sign_in(world, app, signed_in):
    liaison = signed_in("liaison")
    response = _post(liaison, "/language", {"locale": "es", "next": "/cases/"}, token_page="/")
    assert response.headers["Location"] == "/cases/"
    assert '<html lang="es">' in liaison.get("/cases/").text
    # saved once the person says to keep it (tests/web/test_i18n.py: the switcher asks)
    _post(liaison, "/language", {"locale": "es", "next": "/", "keep": "yes"}, token_page="/")
    with world.db.read_session() as db:
        assert db.scalar(select(User.locale).where(User.username == "liaison")) == "es"
    fresh = Browser(app.test_client())
    assert fresh.login("liaison").status_code == 302
    assert '<html lang="es">' in fresh.get("/").text


@pytest.mark.parametrize(
    ("data", "status", "location"),
    [
        ({"locale": "xx", "next": "/"}, 400, None),
        ({"locale": "es", "next": "//evil.example/"}, 302, "/"),
        ({"locale": "es", "next": "https://evil.example/"}, 302, "/"),
    ],
    ids=["unknown language", "protocol-relative next", "absolute next"],
)
def test_the_language_switch_refuses_unknown_languages_and_foreign_redirects(
    app, data, status, location
):
    browser = Browser(app.test_client())
    response = _post(browser, "/language", data)
    assert response.status_code == status
    if location is not None:
        assert response.headers["Location"] == location


def test_sign_in_sends_only_to_local_pages_after(app):
    browser = Browser(app.test_client())
    page = browser.get("/login?next=//evil.example/")
    response = browser.client.post(
        "/login?next=//evil.example/",
        data={"username": "liaison", "password": PASSWORD, "csrf_token": csrf_token(page.text)},
    )
    assert response.headers["Location"] == "/"
    fresh = Browser(app.test_client())
    page = fresh.get("/login?next=/cases/")
    response = fresh.client.post(
        "/login?next=/cases/",
        data={"username": "liaison", "password": PASSWORD, "csrf_token": csrf_token(page.text)},
    )
    assert response.headers["Location"] == "/cases/"


NEXT_FIELD = re.compile(r'name="next" value="([^"]*)"')


def test_the_language_form_on_a_crafted_path_does_not_redirect_off_site(app):
    """``GET /%09/evil.example`` puts ``/\t/evil.example?`` in the language form; a browser
    drops the tab from a Location header and would go to //evil.example."""
    browser = Browser(app.test_client())
    page = browser.get("/%09/evil.example")
    [target] = NEXT_FIELD.findall(page.text)
    assert unescape(target).startswith("/\t/")
    response = _post(browser, "/language", {"locale": "es", "next": unescape(target)})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize(
    "target",
    [
        "/\t/evil.example",
        "/\\evil.example",
        "/\\/evil.example",
        "/%09/evil.example",
        "/%2F/evil.example",
        "/%252F%252Fevil.example",
        "/%5Cevil.example",
        " //evil.example",
        "/\u202e/evil.example",
        "/cases/\r\nSet-Cookie: x=1",
        "/cases/?q=%0d%0aX",
        "javascript:alert(1)",
        "evil.example",
    ],
)
def test_every_redirect_to_a_requested_target_refuses_anything_but_a_local_path(app, target):
    browser = Browser(app.test_client())
    response = _post(browser, "/language", {"locale": "es", "next": target})
    assert response.headers["Location"] == "/"
    page = browser.get("/login")
    response = browser.client.post(
        "/login",
        query_string={"next": target},
        data={"username": "liaison", "password": PASSWORD, "csrf_token": csrf_token(page.text)},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_local_targets_with_a_query_are_still_followed(app):
    browser = Browser(app.test_client())
    response = _post(browser, "/language", {"locale": "es", "next": "/audit/?person=Ana%20Q"})
    assert response.headers["Location"] == "/audit/?person=Ana%20Q"


def test_a_sign_in_with_a_line_break_in_next_goes_to_the_dashboard_not_a_500(app):
    browser = Browser(app.test_client())
    page = browser.get("/login?next=/%0d%0aX")
    response = browser.client.post(
        "/login?next=/%0d%0aX",
        data={"username": "liaison", "password": PASSWORD, "csrf_token": csrf_token(page.text)},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_the_trail_filters_by_whole_days(world, signed_in, trail_world):
    auditor = signed_in("auditor")
    # the world acted on 2 and 12 March 2026 only
    assert _shown(auditor.get("/audit/?since=2026-03-03&until=2026-03-11").text) == set()
    shown: set[tuple[str, int]] = set()
    for page in range(1, 20):  # every page of the listing (a page holds only so many events)
        found = _shown(auditor.get(f"/audit/?since=2026-03-02&until=2026-03-12&page={page}").text)
        if not found:
            break
        shown |= found
    assert shown == _stored_trail(world)


def test_repeated_failed_sign_ins_get_a_translated_wait_message(browser):
    from fpic.accounts.sessions import THROTTLE_FAILURES

    for _ in range(THROTTLE_FAILURES):
        assert browser.login("liaison", "not the password").status_code == 401
    throttled = browser.login("liaison", PASSWORD)
    assert throttled.status_code == 429
    assert "wait 15 minutes" in throttled.text


def test_a_fields_hint_and_error_are_tied_to_its_input_for_screen_readers(signed_in):
    liaison = signed_in("liaison")
    blank = liaison.get("/account/password").text
    assert re.search(
        r'<input[^>]*aria-describedby="new_password-hint"[^>]*id="new_password"', blank
    )
    assert 'id="new_password-hint"' in blank
    refused = liaison.submit(
        "/account/password",
        {"current_password": PASSWORD, "new_password": "short", "new_password_again": "short"},
    ).text
    assert re.search(
        r'<input[^>]*aria-describedby="new_password-hint new_password-error"[^>]*id="new_password"',
        refused,
    )
    assert 'id="new_password-error"' in refused


# --- what people typed, and one event in detail ----------------------------------------------


def test_the_case_page_shows_what_was_typed_with_each_action(world, signed_in, community):
    case_id = world.open_case(community)
    memo = "Two springs above the camp.\n<b>Not</b> a mark-up."
    world.act(case_id, "screen_in", world.liaison, {"text": memo})
    page = signed_in(community.rep_actors[0].username).get(f"/cases/{case_id}").text
    typed = re.findall(r'<p class="typed">(.*?)</p>', page, re.S)
    assert len(typed) == 1
    assert "Record:" in typed[0]
    assert "Two springs above the camp.\n&lt;b&gt;Not&lt;/b&gt; a mark-up." in typed[0]
    assert f'href="/audit/case:{case_id}/2"' in page


def test_an_event_page_shows_its_data_its_hash_and_the_link_before(world, signed_in, community):
    case_id = world.open_case(community)
    world.act(case_id, "screen_in", world.liaison, {"text": "Screened in at the desk."})
    with world.db.read_session() as db:
        events = {
            e.seq: e
            for e in db.scalars(select(TrailEvent).where(TrailEvent.chain == f"case:{case_id}"))
        }
    auditor = signed_in("auditor")
    page = auditor.get(f"/audit/case:{case_id}/2")
    assert page.status_code == 200
    text = unescape(page.text)
    assert events[2].hash in text
    assert events[1].hash in text  # the hash of the event before, which this one covers
    assert '"text": "Screened in at the desk."' in text
    assert f'href="/audit/case:{case_id}/1"' in page.text
    assert auditor.get(f"/audit/case:{case_id}/3").status_code == 404
    # the trail's table links each event to its page
    trail = auditor.get(f"/audit/?case={case_id}").text
    assert f'href="/audit/case:{case_id}/2"' in trail
