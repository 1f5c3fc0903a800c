"""The interface in every locale: each page renders with lang set, nothing escapes translation
(a generated pseudo-locale shows any English left behind), dates and language names follow the
reader's locale, and any script survives forms, database, export and trail."""

from __future__ import annotations

import functools
import html
import io
import json
import re
import subprocess
import sys
import tempfile
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from sqlalchemy import String, Text, select

from fpic.storage.db import Base
from fpic.storage.models import Meeting, User
from fpic.trail import audit
from tests.factories import walk_to
from tests.web.conftest import Browser, csrf_token
from web import create_app

ROOT = Path(__file__).resolve().parents[2]
LOCALES = ("en", "es", "fr", "pt_BR", "id", "fil")
PSEUDO = "eo"  # a locale Babel knows and fpic does not ship: stands in for the pseudo-locale


FORMS = {
    "protocol": {"representative": ["agree_protocol", "assign_independent"]},
    "disclosure": {"liaison": ["register_disclosure", "log_meeting", "ask_question",
                               "raise_integrity_flag", "abandon", "lodge_grievance"],
                   "facilitator": ["raise_integrity_flag", "lodge_grievance"]},
    "decision": {"representative": ["give_consent_with_conditions", "give_partial_consent",
                                    "withhold_consent", "review_integrity_flag"],
                 "liaison": ["answer_question", "record_activity_start"]},
}  # fmt: skip


def form_pages(cases: dict[str, int], role: str) -> list[str]:
    return [
        f"/cases/{cases[stage]}/actions/{trigger}"
        for stage, by_role in FORMS.items()
        for trigger in by_role.get(role, [])
    ]


@pytest.fixture
def staged_cases(world, community) -> dict[str, int]:
    """A case standing at each stage whose forms are the richest, with a question and a flag."""
    cases = {}
    for stage in FORMS:
        case_id = world.open_case(community)
        walk_to(world, case_id, stage, community)
        cases[stage] = case_id
    decision = cases["decision"]
    world.act(decision, "ask_question", world.liaison, {"text": "¿Y el agua?", "language": "es"})
    world.act(decision, "raise_integrity_flag", world.liaison,
              {"category": "bribery", "description": "Un regalo."})  # fmt: skip
    return cases


def pages(case_id: int, slug: str, role: str) -> list[str]:
    common = [
        "/",
        "/cases/",
        f"/cases/{case_id}",
        f"/cases/{case_id}/record",
        "/communities/",
        f"/communities/{slug}",
        "/audit/",
        f"/audit/?case={case_id}",
        "/cases/999999",  # the 404 page
        "/account/password",
        "/enrol",
    ]
    by_role = {
        "liaison": ["/cases/new", f"/cases/{case_id}/actions/record_monitoring_report",
                    f"/cases/{case_id}/actions/register_material_change"],
        "representative": [f"/cases/{case_id}/actions/withdraw_consent",
                           f"/cases/{case_id}/actions/close_case"],
        "auditor": ["/audit/verify"],
        "admin": ["/admin/users", "/audit/verify"],
        "facilitator": [],
    }  # fmt: skip
    return common + by_role[role]


@pytest.fixture
def monitored_case(world, community):
    case_id = world.open_case(community)
    walk_to(world, case_id, "monitoring", community)
    # a refused attempt, so the timeline shows translated reasons too
    with pytest.raises(Exception):  # noqa: B017,PT011  (any refusal will do)
        world.act(case_id, "close_case", world.liaison, {"text": "x"})
    return case_id


USERS = {
    "liaison": "liaison",
    "representative": "rep-ayllu-qollana-1",
    "auditor": "auditor",
    "admin": "admin",
    "facilitator": "facilitator",  # sees the forms that change the community's register
}


def _sign_in(app, username: str, locale: str) -> Browser:
    browser = Browser(app.test_client())
    assert browser.login(username).status_code == 302
    page = browser.get("/")
    response = browser.client.post(
        "/language", data={"locale": locale, "next": "/", "csrf_token": csrf_token(page.text)}
    )
    assert response.status_code == 302
    return browser


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("role", list(USERS))
def test_every_page_renders_in_every_locale(app, monitored_case, locale, role):
    browser = _sign_in(app, USERS[role], locale)
    for url in pages(monitored_case, "ayllu-qollana", role):
        response = browser.get(url)
        expected = 404 if url.endswith("999999") else 200
        assert response.status_code == expected, (url, response.status_code)
        lang = locale.replace("_", "-")
        assert f'<html lang="{lang}">' in response.text, url


def test_login_page_follows_accept_language(app):
    response = app.test_client().get("/login", headers={"Accept-Language": "fr-CA,fr;q=0.9"})
    assert '<html lang="fr">' in response.text


# --- the pseudo-locale ---------------------------------------------------------------------

OPEN, CLOSE = "⟦", "⟧"
PLACEHOLDERS = re.compile(r"%\(\w+\)[sd]|%%")


def _pseudo(text: str) -> str:
    """Mark a message so any English left on a page stands out, keeping placeholders."""
    return OPEN + text + CLOSE if text else text


@functools.cache
def _fresh_template() -> bytes:
    """Every message marked in the sources now, extracted as `make i18n-extract` does: the
    check is that each visible text is marked for translation, whether or not the shipped
    template was extracted again since (tests/i18n/test_catalogs.py checks that)."""
    with tempfile.TemporaryDirectory() as scratch:
        fresh = Path(scratch) / "messages.pot"
        subprocess.run(
            [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg",
             "-k", "_l", "-k", "N_", "-c", "i18n:", "-o", str(fresh), "."],
            cwd=ROOT, check=True, capture_output=True,
        )  # fmt: skip
        return fresh.read_bytes()


def build_pseudo_catalog(target: Path) -> None:
    catalog = read_po(io.BytesIO(_fresh_template()), locale=PSEUDO)
    for message in catalog:
        if not message.id:
            continue
        if isinstance(message.id, tuple):
            message.string = tuple(_pseudo(part) for part in message.id)
        else:
            message.string = _pseudo(message.id)
    out = target / PSEUDO / "LC_MESSAGES"
    out.mkdir(parents=True)
    with (out / "messages.mo").open("wb") as handle:
        write_mo(handle, catalog)


class _Text(HTMLParser):
    """Visible text nodes and the attributes people read (labels, placeholders, titles)."""

    SKIP = {"script", "style"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.nodes: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self._skip += 1
        for name, value in attrs:
            if name in ("aria-label", "title", "placeholder", "alt") and value:
                self.nodes.append(value)

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.nodes.append(data.strip())


def _data_values(world) -> list[str]:
    """Every string the database holds: people's own words are data, not interface text."""
    values: set[str] = set()
    with world.db.read_session() as session:
        for table in Base.metadata.sorted_tables:
            for row in session.execute(select(table)).mappings():
                for column in table.columns:
                    value = row[column.name]
                    if isinstance(value, str) and isinstance(column.type, String | Text):
                        values.add(value)
                        if value.startswith(("[", "{")):
                            values.update(_json_strings(value))
                    elif isinstance(value, list | dict):
                        values.update(_json_strings(json.dumps(value)))
    return sorted((v for v in values if v.strip()), key=len, reverse=True)


def _json_strings(text: str) -> set[str]:
    try:
        data = json.loads(text)
    except ValueError:
        return set()
    found: set[str] = set()

    def walk(value):
        if isinstance(value, str):
            found.add(value)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for key, item in value.items():
                found.add(key)
                walk(item)

    walk(data)
    return found


def _locale_words() -> set[str]:
    """Words that come from Babel's own locale data (month names, language names)."""
    locale = Locale.parse(PSEUDO)
    words: set[str] = set()
    for table in (locale.months, locale.days):
        for context in table.values():
            for width in context.values():
                words.update(str(v) for v in width.values())
    words.update(str(v) for v in locale.languages.values())
    words.update(str(v) for v in locale.territories.values())  # a community's country
    words.update(str(v) for v in locale.eras.get("abbreviated", {}).values())
    words.update(str(v) for v in locale.periods.get("abbreviated", {}).values())
    return {w for word in words for w in re.findall(r"[^\W\d_]+", word)}


# names no language translates: the languages' own names, and the hash function's (SHA-256)
ALLOWED = {"fpic", "English", "Español", "Français", "Português", "Brasil", "Bahasa",
           "Indonesia", "eo", "SHA"}  # fmt: skip
LETTERS = re.compile(r"[A-Za-z]{3,}")


def escaped_text(page: str, data: list[str], words: set[str]) -> list[str]:
    """Text on the page that is neither translated, nor data, nor locale data."""
    parser = _Text()
    parser.feed(page)
    escaped = []
    for node in parser.nodes:
        text = html.unescape(node)
        while True:  # translated messages may nest (a role title inside a reason)
            inner = re.sub(rf"{OPEN}[^{OPEN}{CLOSE}]*{CLOSE}", " ", text, flags=re.S)
            if inner == text:
                break
            text = inner
        # digests first: a short data value ("2", a record's id) would cut one into letters
        text = re.sub(r"\b[0-9a-f]{16,}\b", " ", text)
        for value in data:
            if value in text:
                text = text.replace(value, " ")
        leftovers = [w for w in LETTERS.findall(text) if w not in words and w not in ALLOWED]
        if leftovers:
            escaped.append(f"{node!r} -> {leftovers}")
    return escaped


@pytest.mark.parametrize("role", list(USERS))
def test_no_visible_text_escapes_translation(world, monitored_case, staged_cases, tmp_path, role):
    build_pseudo_catalog(tmp_path)
    app = create_app({
        "DATABASE_URL": world.db.url, "SECRET_KEY": "pseudo", "FPIC_CLOCK": world.clock,
        "BABEL_TRANSLATION_DIRECTORIES": str(tmp_path), "FPIC_LOCALES": (PSEUDO,),
    })  # fmt: skip
    client = app.test_client()
    headers = {"Accept-Language": PSEUDO}
    login = client.get("/login", headers=headers)
    client.post("/login", headers=headers, data={
        "username": USERS[role], "password": "correct horse battery",
        "csrf_token": csrf_token(login.text)})  # fmt: skip
    data, words = _data_values(world), _locale_words()
    problems = {}
    urls = ["/login", *pages(monitored_case, "ayllu-qollana", role),
            *form_pages(staged_cases, role)]  # fmt: skip
    for url in urls:
        response = client.get(url, headers=headers)
        assert response.status_code in (200, 404), url
        found = escaped_text(response.text, data, words)
        if found:
            problems[url] = found[:8]
    assert not problems, json.dumps(problems, ensure_ascii=False, indent=1)


# --- dates, numbers and language names -----------------------------------------------------


def test_dates_and_content_language_names_follow_the_reader(app, monitored_case):
    spanish = _sign_in(app, "liaison", "es")
    page = spanish.get(f"/cases/{monitored_case}").text
    assert "quechua (qu)" in page.lower()
    assert "mar 2026" in page.lower()  # Babel's Spanish medium date: "2 mar 2026"
    french = _sign_in(app, "auditor", "fr")
    page = french.get(f"/cases/{monitored_case}").text
    assert "quechua (qu)" in page.lower()
    assert "mars 2026" in page.lower()


# --- any script round-trips ----------------------------------------------------------------

SYLLABICS = "ᓄᓇᕗᑦ ᐃᓄᐃᑦ ᑲᑎᒪᔨᖏᑦ — Yolŋu, Ñawpa, ação"


def test_any_script_survives_form_database_export_and_trail(world, app, monitored_case):
    browser = _sign_in(app, "liaison", "id")
    url = f"/cases/{monitored_case}/actions/log_meeting"
    response = browser.submit(url, {
        "kind": "monitoring", "held_on": world.clock.now().date().isoformat(),
        "place": "ᑭᑦᑎᑲᕐᒥᐅᑦ", "languages_used": "iu, en", "minutes_language": "iu",
        "minutes_original": SYLLABICS, "attendance_women": "3", "attendance_men": "2",
        "minutes_translations-0-language": "en", "minutes_translations-0-text": "Nunavut Inuit",
        "minutes_translations-0-translator": "Ŋarra Ŋurruwuthun",
    })  # fmt: skip
    assert response.status_code == 302, response.text[:2000]
    with world.db.read_session() as session:
        meeting = session.scalars(select(Meeting).order_by(Meeting.id.desc())).first()
        assert meeting.minutes_original == SYLLABICS
        assert meeting.minutes_translations[0]["translator"] == "Ŋarra Ŋurruwuthun"
        stmt = select(audit.TrailEvent).where(audit.TrailEvent.case_id == monitored_case)
        events = [audit.row_of(e) for e in session.scalars(stmt)]
    assert any(e["data"].get("payload", {}).get("minutes_original") == SYLLABICS for e in events)
    page = browser.get(f"/cases/{monitored_case}").text
    assert SYLLABICS.replace("—", "&mdash;") in page or SYLLABICS in page
    export = browser.get(f"/audit/export?format=jsonl&case={monitored_case}").get_data(as_text=True)
    assert SYLLABICS in export
    csv_export = browser.get(f"/audit/export?format=csv&case={monitored_case}").get_data(
        as_text=True
    )
    assert SYLLABICS in csv_export


# --- the language switcher asks before changing a saved preference -------------------------


def _switch(browser: Browser, locale: str, start: str = "/", **answer: str):
    page = browser.get(start)
    data = {"locale": locale, "next": "/", "csrf_token": csrf_token(page.text), **answer}
    return browser.client.post("/language", data=data)


def _saved_locale(world, username: str) -> str | None:
    with world.db.read_session() as session:
        return session.scalar(select(User.locale).where(User.username == username))


def _signed_in_again(app, username: str) -> str:
    """The dashboard of a new sign-in, in a new browser (no language chosen in it)."""
    browser = Browser(app.test_client())
    assert browser.login(username).status_code == 302
    return browser.get("/").text


OFFER = 'class="card language-offer"'


def test_switching_the_language_changes_this_session_only_and_asks(world, app):
    liaison = Browser(app.test_client())
    assert liaison.login("liaison").status_code == 302
    assert _switch(liaison, "es").status_code == 302
    page = liaison.get("/cases/").text
    assert '<html lang="es">' in page
    assert OFFER in page
    # the question in the language just chosen
    assert "¿Conservar Español como su idioma para la próxima vez?" in page
    assert _saved_locale(world, "liaison") is None  # nothing saved without asking
    assert '<html lang="en">' in _signed_in_again(app, "liaison")


def test_keeping_the_language_saves_it_for_next_time(world, app):
    liaison = Browser(app.test_client())
    assert liaison.login("liaison").status_code == 302
    _switch(liaison, "es")
    assert _switch(liaison, "es", keep="yes").status_code == 302
    assert _saved_locale(world, "liaison") == "es"
    page = liaison.get("/").text
    assert OFFER not in page
    assert '<html lang="es">' in page
    assert '<html lang="es">' in _signed_in_again(app, "liaison")
    # the saved language chosen again: nothing to ask
    _switch(liaison, "fr")
    _switch(liaison, "es")
    assert OFFER not in liaison.get("/").text


def test_only_this_time_keeps_the_saved_preference_and_stops_asking(world, app):
    liaison = Browser(app.test_client())
    assert liaison.login("liaison").status_code == 302
    _switch(liaison, "fr", keep="yes")
    assert _saved_locale(world, "liaison") == "fr"
    _switch(liaison, "es")
    assert _switch(liaison, "es", keep="no").status_code == 302
    page = liaison.get("/").text
    assert '<html lang="es">' in page  # this session speaks Spanish
    assert OFFER not in page
    assert _saved_locale(world, "liaison") == "fr"
    assert '<html lang="fr">' in _signed_in_again(app, "liaison")


def test_a_visitor_just_switches_and_an_unknown_answer_is_refused(world, app):
    visitor = Browser(app.test_client())
    assert _switch(visitor, "fil", start="/login").status_code == 302
    page = visitor.get("/login").text
    assert '<html lang="fil">' in page
    assert OFFER not in page
    assert _switch(visitor, "es", start="/login", keep="maybe").status_code == 400
    # the language chosen before signing in is the session's until a saved one says otherwise
    assert visitor.login("liaison").status_code == 302
    assert '<html lang="fil">' in visitor.get("/").text


# --- words, not codes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "code", "name"),
    [
        ("en", "qu", "Quechua (qu)"),
        ("es", "ay", "aimara (ay)"),
        ("fr", "iu", "inuktitut (iu)"),
        ("en", "ifk", "Tuwali Ifugao (ifk)"),  # ISO 639-3, not in the CLDR: fpic's own name
        ("es", "es-PE", "español (Perú, es-PE)"),
        ("en", "xx", "xx"),  # nobody's name for it: the code as it is
    ],
)
def test_content_languages_are_named_in_the_readers_language_with_their_code(
    app, locale, code, name
):
    from web.labels import language_name

    with app.test_request_context(headers={"Accept-Language": locale}):
        assert language_name(code) == name


def test_forms_offer_phases_activities_and_languages_by_name(world, app, community):
    case_id = world.open_case(community)
    walk_to(world, case_id, "decision", community)
    rep = _sign_in(app, "rep-ayllu-qollana-1", "en")
    page = rep.get(f"/cases/{case_id}/actions/give_consent_with_conditions").text
    for code, title in (("exploration", "Exploration"), ("drilling", "Drilling"),
                        ("access_road", "Access road"), ("open_pit", "Open pit")):  # fmt: skip
        assert re.search(rf'value="{code}"[^>]*>\s*<label[^>]*>{title}</label>', page), code
    # a field that asks for a language code names the community's languages
    assert "The community&#39;s languages: Quechua (qu), Spanish (es)." in page
    spanish = _sign_in(app, "liaison", "es")
    disclosure = world.open_case(community)
    walk_to(world, disclosure, "disclosure", community)
    page = spanish.get(f"/cases/{disclosure}/actions/register_disclosure").text
    assert re.search(r'value="qu"[^>]*>\s*<label[^>]*>quechua \(qu\)</label>', page)


def test_the_case_page_shows_the_consents_scope_by_name_and_no_version(world, app, community):
    case_id = world.open_case(community)
    walk_to(world, case_id, "agreement", community)
    page = _sign_in(app, "liaison", "en").get(f"/cases/{case_id}").text
    assert "Exploration — Drilling, Camp" in page
    assert "drilling, camp" not in page
    assert not re.search(r"\bversion \d+\b", page)


def test_a_refused_attempt_on_the_timeline_calls_the_field_by_its_label(world, app, community):
    case_id = world.open_case(community)
    walk_to(world, case_id, "disclosure", community)
    liaison = _sign_in(app, "liaison", "en")
    refused = liaison.submit(
        f"/cases/{case_id}/actions/register_disclosure", {"item": "nature_scope_and_pace"}
    )
    assert refused.status_code == 400
    page = liaison.get(f"/cases/{case_id}").text
    assert "languages is required." not in page
    assert "“Languages” is required." in unescape(page)
