"""The auditor's trail view: a case found by its reference, an action by the label the trail
shows (in the reader's language), the sign-ins in a view of their own, each event's page, and
a community's trail downloaded whole and verifiable."""

from __future__ import annotations

import io
import re
import zipfile
from html import unescape

import pytest
from sqlalchemy import select

from fpic.evidence.bundle import verify_bundle
from fpic.read.queries import ActionMatch
from fpic.storage.models import Case, TrailEvent
from fpic.trail import audit
from fpic.workflow.errors import InvalidTransition
from fpic.workflow.process import shipped_templates
from tests.factories import World, territory
from tests.web.conftest import Browser, table_rows
from web import create_app
from web.trail_filters import action_choices, action_match

OPTION = re.compile(r'<option value="([^"]*)"(?: selected)?>([^<]*)</option>')
SPANISH = {"Accept-Language": "es"}


@pytest.fixture
def trail_world(world: World, community, other_community) -> dict[str, int]:
    """Two cases of one community and one of another, a refused attempt, and a failed sign-in
    (the access chain)."""
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
    world.act(b1, "screen_in", world.liaison, {"text": "FPIC applies to Uma Jaqi."})
    with pytest.raises(InvalidTransition):
        world.act(a2, "complete_mapping", community.rep_actors[0], {"text": "Too early."})
    return {
        "a1": a1,
        "a2": a2,
        "b1": b1,
        "a_reg": community.registration_case,
        "b_reg": other_community.registration_case,
    }


def _shown(page: str) -> set[tuple[str, int]]:
    """(chain, seq) of every event listed on the trail's main view."""
    return {(row[1], int(row[2])) for row in table_rows(page) if len(row) == 7}


def _access_shown(page: str) -> list[list[str]]:
    """The rows of the sign-ins view (six cells: when, number, user, action, outcome, hash)."""
    return [row for row in table_rows(page) if len(row) == 6]


def _stored(world: World, *where) -> set[tuple[str, int]]:
    with world.db.read_session() as db:
        return set(db.execute(select(TrailEvent.chain, TrailEvent.seq).where(*where)).all())


def _options(page: str, select_id: str) -> dict[str, str]:
    """value -> label of a select's options."""
    start = page.index(f'id="{select_id}"')
    block = page[start : page.index("</select>", start)]
    return {unescape(v): unescape(label) for v, label in OPTION.findall(block)}


def _problems(page: str) -> list[str]:
    return [unescape(p) for p in re.findall(r'<p class="flash error">(.*?)</p>', page, re.S)]


# --- a case by its reference ----------------------------------------------------------------


def test_a_case_is_found_by_its_reference_in_any_capitals(world, signed_in, trail_world):
    auditor = signed_in("auditor")
    a1 = trail_world["a1"]
    reference = world.case(a1).reference
    expected = _stored(world, TrailEvent.chain == audit.case_chain(a1))
    for typed in (reference, reference.lower(), f"  {reference.lower()} "):
        page = auditor.get("/audit/", query_string={"reference": typed})
        assert page.status_code == 200, typed
        assert _shown(page.text) == expected, typed
        assert f"The chain of case {reference} is intact" in page.text
        assert f'value="{reference}"' in page.text  # the field keeps what was found
    # the case page's link by id still works, and fills the reference in
    by_id = auditor.get(f"/audit/?case={a1}").text
    assert _shown(by_id) == expected
    assert 'id="t-reference" name="reference"' in by_id
    assert f'value="{reference}"' in by_id
    assert 'name="case"' not in by_id  # no field asks for a number


def test_an_unknown_reference_is_said_so_not_an_error(world, signed_in, trail_world):
    auditor = signed_in("auditor")
    page = auditor.get("/audit/?reference=NO-SUCH-CASE")
    assert page.status_code == 200
    assert _problems(page.text) == ["No case you may read has the reference “NO-SUCH-CASE”."]
    assert _shown(page.text) == set()
    assert "No event matches these filters." in page.text
    spanish = auditor.get("/audit/?reference=NO-SUCH-CASE", headers=SPANISH)
    assert spanish.status_code == 200
    assert _problems(spanish.text)


def test_a_representative_finds_no_other_communitys_case_by_reference(
    world, signed_in, trail_world
):
    rep = signed_in("rep-ayllu-qollana-1")
    others = world.case(trail_world["b1"]).reference
    page = rep.get("/audit/", query_string={"reference": others})
    assert page.status_code == 200
    # the same words as for a reference that does not exist: nothing says the case is there
    assert _problems(page.text) == [f"No case you may read has the reference “{others}”."]
    assert _shown(page.text) == set()
    own = world.case(trail_world["a1"]).reference
    assert _shown(rep.get("/audit/", query_string={"reference": own}).text) == _stored(
        world, TrailEvent.chain == audit.case_chain(trail_world["a1"])
    )


# --- an action by its label -----------------------------------------------------------------


def test_an_action_is_found_by_the_label_shown_in_english_and_in_spanish(
    world, signed_in, trail_world
):
    auditor = signed_in("auditor")
    screened = _stored(world, TrailEvent.action == "screen_in")
    assert len(screened) == 3
    for headers, label in (({}, "Record that FPIC is required"),
                           (SPANISH, "Registrar que se requiere el CLPI")):  # fmt: skip
        page = auditor.get("/audit/", headers=headers).text
        choices = _options(page, "t-action")
        values = [v for v, shown in choices.items() if shown == label]
        assert len(values) == 1, (label, choices)  # one entry per label, though two actions
        found = auditor.get("/audit/", query_string={"action": values[0]}, headers=headers)
        assert _shown(found.text) == screened, label
        assert f'<option value="{values[0]}" selected>{label}</option>' in unescape(found.text)
        # the label typed as the reader reads it finds the same
        typed = auditor.get("/audit/", query_string={"action": label}, headers=headers)
        assert _shown(typed.text) == screened, label
        # with a case's reference too
        both = auditor.get(
            "/audit/",
            query_string={
                "action": values[0],
                "reference": world.case(trail_world["a2"]).reference,
            },
            headers=headers,
        )
        assert _shown(both.text) == {(audit.case_chain(trail_world["a2"]), 2)}
    # the codes older links give still work; a label that names nothing is said so
    assert _shown(auditor.get("/audit/?action=screen_in").text) == screened
    unknown = auditor.get("/audit/", query_string={"action": "Bake a cake"})
    assert unknown.status_code == 200
    assert _problems(unknown.text) == ["No action is called “Bake a cake”."]
    assert _shown(unknown.text) == set()


def test_the_list_of_actions_is_in_the_readers_language_without_sign_ins(signed_in, trail_world):
    auditor = signed_in("auditor")
    english = _options(auditor.get("/audit/").text, "t-action")
    spanish = _options(auditor.get("/audit/", headers=SPANISH).text, "t-action")
    assert english[""] == "Any action"
    assert english["Record consent"] == "Record consent"
    assert spanish["Record consent"] == "Registrar el consentimiento"
    # the same values whatever the language, but labels one in Spanish are one entry there
    assert set(spanish) < set(english)
    assert "Sign in" not in english.values()  # sign-ins are in their own view
    labels = list(english.values())[1:]
    assert labels == sorted(labels, key=str.casefold)
    assert len(set(labels)) == len(labels)


def test_a_label_finds_every_action_called_so_and_only_where_it_is_called_so(app):
    with app.test_request_context("/"):
        # two actions of two templates share the label
        shared = action_match("Register a material change")
        assert isinstance(shared, ActionMatch)
        names = set(shared.anywhere) | {a for acts, _ in shared.in_templates for a in acts}
        assert {"register_material_change", "register_icp_material_change"} <= names
        # the general template's consent is the Native Title Act's parties' agreement: a filter
        # by "Record consent" finds the action only on the cases of templates calling it so
        consent = action_match("Record consent")
        assert isinstance(consent, ActionMatch)
        assert "give_consent" not in consent.anywhere
        templates = {t for acts, ts in consent.in_templates if "give_consent" in acts for t in ts}
        assert "fpic-general" in templates
        assert "au-nta-right-to-negotiate" not in templates
        nta = shipped_templates()["au-nta-right-to-negotiate"].triggers["give_consent"].title
        other = action_match(nta)
        assert isinstance(other, ActionMatch)
        assert {t for _, ts in other.in_templates for t in ts} == {"au-nta-right-to-negotiate"}
        assert action_match("disable_user") == "disable_user"
        assert action_match("No such label at all") is None
        values = [value for value, _ in action_choices()]
        assert "Record consent" in values
        assert nta in values


# --- sign-ins in their own view -------------------------------------------------------------


def test_sign_ins_have_their_own_view_and_leave_the_trail(world, browser, signed_in, trail_world):
    assert browser.login("liaison", "not the password").status_code == 401
    auditor = signed_in("auditor")
    trail = auditor.get("/audit/").text
    assert not {chain for chain, _ in _shown(trail)} & {audit.ACCESS_CHAIN}
    assert 'href="/audit/access"' in trail
    assert "Newest first; the times are in Coordinated Universal Time (UTC)." in trail
    page = auditor.get("/audit/access")
    assert page.status_code == 200
    rows = _access_shown(page.text)
    assert "Newest first; the times are in Coordinated Universal Time (UTC)." in page.text
    with world.db.read_session() as db:
        stored = db.scalars(select(TrailEvent).where(TrailEvent.chain == audit.ACCESS_CHAIN)).all()
    assert len(rows) == len(stored) > 0
    assert {int(row[1]) for row in rows} == {e.seq for e in stored}
    # filtered by user name, outcome and day
    refused = _access_shown(auditor.get("/audit/access?outcome=refused").text)
    assert [row[2].split()[0] for row in refused] == ["liaison"]
    assert "The user name or the password was not right." in refused[0][4]
    mine = _access_shown(auditor.get("/audit/access?person=auditor&outcome=done").text)
    assert mine
    assert all(row[2].startswith("auditor") and "Sign in" in row[3] for row in mine)
    today = world.clock.now().date().isoformat()
    assert len(_access_shown(auditor.get(f"/audit/access?since={today}").text)) == len(rows)
    assert _access_shown(auditor.get("/audit/access?until=2026-03-01").text) == []
    assert auditor.get("/audit/access?outcome=maybe").status_code == 400


def test_only_those_who_read_every_chain_see_the_sign_ins(signed_in, trail_world):
    for username in ("liaison", "rep-ayllu-qollana-1", "facilitator"):
        person = signed_in(username)
        assert person.get("/audit/access").status_code == 403, username
        assert 'href="/audit/access"' not in person.get("/audit/").text, username
    assert signed_in("admin").get("/audit/access").status_code == 200


# --- each event's page ----------------------------------------------------------------------


def test_every_row_links_to_its_event_and_the_event_page_says_everything(
    world, signed_in, trail_world
):
    auditor = signed_in("auditor")
    a1 = trail_world["a1"]
    trail = auditor.get(f"/audit/?case={a1}").text
    for chain, seq in _shown(trail):
        assert trail.count(f'href="/audit/{chain}/{seq}"') >= 2  # its number and its action
    with world.db.read_session() as db:
        event = db.scalar(
            select(TrailEvent).where(
                TrailEvent.chain == audit.case_chain(a1), TrailEvent.action == "screen_in"
            )
        )
        assert event is not None
        reference = db.get(Case, a1).reference
    page = auditor.get(f"/audit/{event.chain}/{event.seq}")
    assert page.status_code == 200
    text = unescape(page.text)
    assert "Record that FPIC is required" in text  # the action's label
    assert 'liaison <span class="muted">(community liaison officer)</span>' in text  # and role
    assert f'<a href="/cases/{a1}">{reference}</a>' in text  # the case, by its reference
    stage = re.search(r"<dt>Stage</dt><dd>(.*?)</dd>", text, re.S)
    assert stage
    assert "→" in stage.group(1)
    assert "<dt>text</dt><dd>FPIC applies.</dd>" in text  # the data, readable
    assert event.hash in text
    assert event.prev_hash in text


# --- one community's trail, downloaded --------------------------------------------------------


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_communitys_export_holds_its_cases_chains_whole_and_verifies(
    world, signed_in, trail_world, community, fmt
):
    response = signed_in("auditor").get(f"/audit/export?format={fmt}&community={community.id}")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="fpic-trail-community-{community.slug}.{fmt}"'
    )
    text = response.get_data(as_text=True)
    result = audit.verify_export(io.StringIO(text))
    assert result.intact, result.first_break
    rows = list(
        audit.read_jsonl(io.StringIO(text)) if fmt == "jsonl" else audit.read_csv(io.StringIO(text))
    )
    own = {audit.case_chain(trail_world[k]) for k in ("a1", "a2", "a_reg")}
    assert {row["chain"] for row in rows} == own
    assert result.events == len(_stored(world, TrailEvent.chain.in_(own)))
    # each chain whole, from its first event, one after another in case order
    starts = [row for row in rows if row["seq"] == 1]
    assert [row["chain"] for row in starts] == sorted(own, key=lambda c: int(c.split(":")[1]))


def test_a_communitys_bundle_verifies(world, signed_in, trail_world, community, tmp_path):
    response = signed_in("auditor").get(f"/audit/bundle?community={community.id}")
    assert response.status_code == 200
    path = tmp_path / "bundle.zip"
    path.write_bytes(response.get_data())
    assert verify_bundle(path).intact
    with zipfile.ZipFile(path) as bundle:
        lines = bundle.read("trail.jsonl").decode("utf-8").splitlines()
    own = {audit.case_chain(trail_world[k]) for k in ("a1", "a2", "a_reg")}
    assert {line.split('"chain":"')[1].split('"')[0] for line in lines} == own


def test_a_communitys_download_is_refused_to_other_communities(
    signed_in, trail_world, community, other_community
):
    rep = signed_in("rep-uma-jaqi-1")
    assert rep.get(f"/audit/export?community={community.id}").status_code == 404
    assert rep.get(f"/audit/bundle?community={community.id}").status_code == 404
    own = rep.get(f"/audit/export?community={other_community.id}")
    assert own.status_code == 200
    assert audit.verify_export(io.StringIO(own.get_data(as_text=True))).intact
    auditor = signed_in("auditor")
    assert auditor.get("/audit/export?community=999999").status_code == 404
    both = f"/audit/export?community={community.id}&case={trail_world['a1']}"
    assert auditor.get(both).status_code == 400
    # the trail page offers the download for each community this person reads
    page = auditor.get("/audit/").text
    assert set(_options(page, "d-community")) == {str(community.id), str(other_community.id)}
    assert set(_options(rep.get("/audit/").text, "d-community")) == {str(other_community.id)}


def test_a_link_keeps_its_meaning_in_a_language_where_two_labels_are_one(signed_in, trail_world):
    auditor = signed_in("auditor")
    english = _options(auditor.get("/audit/").text, "t-action")
    spanish = _options(auditor.get("/audit/", headers=SPANISH).text, "t-action")
    merged = sorted(set(english) - set(spanish))  # two English labels, one Spanish one
    assert merged
    for value in merged:
        page = auditor.get("/audit/", query_string={"action": value}, headers=SPANISH).text
        assert not _problems(page)
        selected = re.findall(r'<option value="([^"]*)" selected>([^<]*)</option>', page)
        assert len(selected) == 1, selected
        assert unescape(selected[0][1]) in spanish.values()


# --- the same on PostgreSQL -------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_world(request: pytest.FixtureRequest) -> World:
    return request.getfixturevalue("world" if request.param == "sqlite" else "pg_world")


def test_the_filters_and_a_communitys_export_on_both_databases(any_world: World):
    world = any_world
    qollana = world.add_community("ayllu-qollana", ["qu", "es"], reps=1)
    jaqi = world.add_community("uma-jaqi", ["ay", "es"], reps=1)
    a1, b1 = world.open_case(qollana), world.open_case(jaqi)
    world.act(a1, "screen_in", world.liaison, {"text": "FPIC applies."})
    world.act(b1, "screen_in", world.liaison, {"text": "FPIC applies here too."})
    app = create_app(
        {"DATABASE_URL": world.db.url, "SECRET_KEY": "test-secret", "FPIC_CLOCK": world.clock}
    )
    try:
        auditor = Browser(app.test_client())
        assert auditor.login("auditor").status_code == 302
        # a reference in other capitals (lower() on both databases)
        page = auditor.get("/audit/", query_string={"reference": world.case(a1).reference.lower()})
        assert _shown(page.text) == _stored(world, TrailEvent.chain == audit.case_chain(a1))
        # a label naming actions of some templates only (the subquery of their cases)
        consent = auditor.get("/audit/", query_string={"action": "Record that FPIC is required"})
        assert _shown(consent.text) == _stored(world, TrailEvent.action == "screen_in")
        # the main view leaves the sign-ins out; their own view has them
        main = _shown(auditor.get("/audit/").text)
        newest = sorted(_stored(world, TrailEvent.chain != audit.ACCESS_CHAIN))
        assert main <= set(newest)
        assert len(main) == min(len(newest), 50)  # a page of 50
        access = _access_shown(auditor.get("/audit/access").text)
        assert len(access) == len(_stored(world, TrailEvent.chain == audit.ACCESS_CHAIN)) > 0
        # one community's export, whole and verifiable
        text = auditor.get(f"/audit/export?community={qollana.id}").get_data(as_text=True)
        result = audit.verify_export(io.StringIO(text))
        assert result.intact, result.first_break
        own = {audit.case_chain(c) for c in (a1, qollana.registration_case)}
        assert {row["chain"] for row in audit.read_jsonl(io.StringIO(text))} == own
    finally:
        app.extensions["fpic"].db.dispose()
