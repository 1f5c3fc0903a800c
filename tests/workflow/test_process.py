"""Process templates: every shipped template loads; a broken one is refused with the file and the
key named; the machine knows every trigger; a case stays pinned to the exact template it began
with."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from functools import cache
from importlib import resources

import pytest

import fpic.workflow.process
from fpic.read.deadlines import deadlines
from fpic.storage.models import Case
from fpic.workflow.errors import GuardRefused, TemplateError
from fpic.workflow.process import (
    BACK,
    STAY,
    Template,
    parse_template,
    shipped_templates,
    template_for,
)
from tests.factories import PROTOCOL, walk_to

GENERAL_PATH = "fpic/workflow/processes/general.toml"
SHIPPED_FILES = sorted(
    entry.name
    for entry in (resources.files("fpic.workflow") / "processes").iterdir()
    if entry.name.endswith(".toml")
)


def _text(name: str) -> str:
    return (resources.files("fpic.workflow") / "processes" / name).read_text(encoding="utf-8")


GENERAL = _text("general.toml")


def _changed(old: str, new: str) -> str:
    """general.toml with exactly one occurrence of ``old`` replaced by ``new``."""
    assert GENERAL.count(old) == 1, f"{old!r} occurs {GENERAL.count(old)} times"
    return GENERAL.replace(old, new)


def _refusal(text: str, path: str = GENERAL_PATH) -> TemplateError:
    with pytest.raises(TemplateError) as caught:
        parse_template(text, path)
    return caught.value


def _assert_names(error: TemplateError, key: str, problem: str, path: str = GENERAL_PATH) -> None:
    [reason] = error.reasons
    assert reason.code == "template_invalid"
    assert reason.params["file"] == path
    assert reason.params["key"] == key
    assert problem in reason.params["problem"]
    message = str(error)
    assert path in message
    assert key in message


# --- the shipped templates -----------------------------------------------------------------


def test_both_the_general_and_the_ncip_templates_are_shipped():
    assert {"general.toml", "ncip-ao3-2012.toml"} <= set(SHIPPED_FILES)
    assert {"fpic-general", "ncip-ao3-2012"} <= set(shipped_templates())


@pytest.mark.parametrize("name", SHIPPED_FILES)
def test_each_shipped_template_file_loads_and_is_the_one_served(name):
    path = f"fpic/workflow/processes/{name}"
    template = parse_template(_text(name), path)
    served = shipped_templates()[template.id]
    assert served.content_hash == template.content_hash
    assert served.version == template.version
    assert served.path == path
    assert template.initial in template.stages
    assert not template.stages[template.initial].terminal
    assert template.required_disclosure_items


def test_ncip_template_carries_its_fifteen_day_reconsideration_window():
    """AO 3 §27 says fifteen days and not which kind: the day type stays unspecified."""
    limit = shipped_templates()["ncip-ao3-2012"].limits["reconsideration"]
    assert (limit.amount, limit.unit, limit.day_type) == (15, "days", "unspecified")
    assert "fifteen (15) days from receipt" in (limit.source or "")
    assert limit.counted_from == ("withhold_consent", "decline_to_engage")
    general = shipped_templates()["fpic-general"].limits["reconsideration"]
    assert general.protocol
    assert general.source is None
    assert general.default_source


@pytest.mark.parametrize("template_id", sorted(shipped_templates()))
def test_machine_of_each_template_has_every_trigger(template_id):
    template = shipped_templates()[template_id]
    events = template.machine.events
    assert set(template.triggers) <= set(events)
    for trigger in template.triggers.values():
        event = events[trigger.name]
        for source in trigger.sources:
            assert source in event.transitions, (trigger.name, source)
            dests = {t.dest for t in event.transitions[source]}
            if trigger.dest == STAY:
                assert dests == {None}, (trigger.name, source)
            elif trigger.dest != BACK:
                assert dests == {trigger.dest}, (trigger.name, source)


@pytest.mark.parametrize("template_id", sorted(shipped_templates()))
def test_every_non_terminal_stage_is_reachable_and_can_be_left(template_id):
    template = shipped_templates()[template_id]
    reached = {template.initial}
    frontier = [template.initial]
    while frontier:
        stage = frontier.pop()
        for trigger in template.triggers_from(stage):
            if trigger.dest == BACK:
                nexts = {t.name for t in template.triggers.values() if t.effect == "suspend"}
                dests = {s for name in nexts for s in template.triggers[name].sources}
            elif trigger.dest == STAY:
                dests = set()
            else:
                dests = {trigger.dest}
            for dest in dests - reached:
                reached.add(dest)
                frontier.append(dest)
    assert reached == set(template.stages)
    for stage in template.stages.values():
        if not stage.terminal:
            assert any(t.changes_stage for t in template.triggers_from(stage.name)), stage.name


# --- refusing broken templates -------------------------------------------------------------


def test_general_text_parses_unchanged():
    template = parse_template(GENERAL, GENERAL_PATH)
    assert template.id == "fpic-general"


def test_unknown_guard_is_refused():
    text = _changed('guards = ["community_registered"]', 'guards = ["looks_fine_to_me"]')
    error = _refusal(text)
    _assert_names(error, "triggers.confirm_rights_holders.guards", "'looks_fine_to_me'")


def test_unknown_source_stage_is_refused():
    text = _changed(
        'source = ["screening"]\ndest = "not_required"',
        'source = ["nowhere"]\ndest = "not_required"',
    )
    _assert_names(_refusal(text), "triggers.screen_out.source", "unknown stage 'nowhere'")


def test_unknown_destination_stage_is_refused():
    text = _changed('dest = "not_required"', 'dest = "nowhere"')
    _assert_names(_refusal(text), "triggers.screen_out.dest", "unknown stage 'nowhere'")


def test_unknown_initial_stage_is_refused():
    text = _changed('initial = "screening"', 'initial = "nowhere"')
    _assert_names(_refusal(text), "initial", "unknown stage 'nowhere'")


def test_unknown_role_is_refused():
    text = _changed(
        'dest = "not_required"\nroles = ["liaison"]', 'dest = "not_required"\nroles = ["proponent"]'
    )
    _assert_names(_refusal(text), "triggers.screen_out.roles", "unknown role 'proponent'")


def test_unknown_effect_is_refused():
    text = _changed(
        'guards = ["no_territory_overlap"]\neffect = "note"',
        'guards = ["no_territory_overlap"]\neffect = "telepathy"',
    )
    _assert_names(_refusal(text), "triggers.screen_out.effect", "unknown effect 'telepathy'")


def test_unknown_outcome_is_refused():
    text = _changed('outcome = "CONSENT"\n', 'outcome = "PROBABLY"\n')
    _assert_names(_refusal(text), "triggers.give_consent.outcome", "unknown outcome 'PROBABLY'")


def test_outcome_on_a_trigger_that_records_no_decision_is_refused():
    text = _changed(
        'guards = ["no_territory_overlap"]\neffect = "note"',
        'guards = ["no_territory_overlap"]\neffect = "note"\noutcome = "CONSENT"',
    )
    _assert_names(_refusal(text), "triggers.screen_out.outcome", "only by, the decision effect")


def test_decision_without_outcome_is_refused():
    text = _changed('outcome = "CONSENT"\n', "")
    _assert_names(_refusal(text), "triggers.give_consent.outcome", "decision effect")


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ('title = "Screening"\n', "", "stages.screening.title"),
        ('title = "Request for reconsideration"\n', "", "limits.reconsideration.title"),
        ('id = "fpic-general"\n', "", "id"),
        ('dest = "not_required"\n', "", "triggers.screen_out.dest"),
    ],
)
def test_missing_key_is_refused(old, new, key):
    _assert_names(_refusal(_changed(old, new)), key, "is missing")


def test_value_of_the_wrong_type_is_refused():
    text = _changed('days = 15\nday_type = "calendar"', 'days = "fifteen"\nday_type = "calendar"')
    _assert_names(_refusal(text), "limits.reconsideration.days", "must be a int")


# --- time limits: every one cites its source or is set by the community ----------------------

RECONSIDERATION = """[limits.reconsideration]
title = "Request for reconsideration"
days = 15
day_type = "calendar"
counted_from = ["withhold_consent", "decline_to_engage"]
stages = ["withheld"]
protocol = true
"""


def _limit_changed(old: str, new: str) -> str:
    assert GENERAL.count(RECONSIDERATION) == 1
    return GENERAL.replace(RECONSIDERATION, RECONSIDERATION.replace(old, new))


@pytest.mark.parametrize(
    ("old", "new", "key", "problem"),
    [
        ("protocol = true\n", "", "limits.reconsideration.source", "cites its source"),
        ("days = 15\n", "days = 15\nmonths = 1\n", "limits.reconsideration", "not both"),
        ("days = 15\n", "days = 0\n", "limits.reconsideration.days", "at least 1"),
        ('"calendar"', '"business"', "limits.reconsideration.day_type", "must be one of"),
        ("days = 15\n", "months = 2\n", "limits.reconsideration.day_type", "days only"),
        ('"withhold_consent", ', '"withhold", ', "limits.reconsideration.counted_from", "unknown"),
        ('stages = ["withheld"]', 'stages = ["limbo"]', "limits.reconsideration.stages", "unknown"),
        ("title =", "deadline =", "limits.reconsideration.deadline", "not a time limit setting"),
    ],
)
def test_a_limit_without_a_source_or_with_a_bad_setting_is_refused(old, new, key, problem):
    _assert_names(_refusal(_limit_changed(old, new)), key, problem)


def test_a_protocol_limit_cites_where_its_default_comes_from():
    text = _changed(
        'default_source = "NCIP AO 3 (2012) §27', 'default_sourced = "NCIP AO 3 (2012) §27'
    )
    _assert_names(
        _refusal(text), "limits.reconsideration.default_sourced", "not a time limit setting"
    )
    start = GENERAL.index('default_source = "NCIP AO 3 (2012) §27')
    line = GENERAL[start : GENERAL.index("\n", start) + 1]
    _assert_names(
        _refusal(_changed(line, "")),
        "limits.reconsideration.default_source",
        "cites where its default",
    )


@pytest.mark.parametrize(
    ("old", "new", "key", "problem"),
    [
        (
            'within = ["reconsideration"]', 'within = ["window"]',
            "triggers.request_reconsideration.within", "not a limit",
        ),
        (
            'effect = "reconsideration_request"',
            'effect = "reconsideration_request"\nafter = ["post_bond"]',
            "triggers.request_reconsideration.after", "unknown trigger",
        ),
        (
            'title = "General FPIC process"',
            'title = "General FPIC process"\nopened_by = ["auditor"]',
            "opened_by", "cannot open a case",
        ),
    ],
)  # fmt: skip
def test_a_trigger_naming_an_unknown_limit_or_step_is_refused(old, new, key, problem):
    _assert_names(_refusal(_changed(old, new)), key, problem)


def test_released_versions_may_keep_their_uncited_limits_but_they_never_show_as_overdue():
    """A released version is kept byte for byte: its legacy numbers bind its cases, cite
    nothing, and so are not limits that exist."""
    earlier = parse_template(_released_text(), RELEASED_GENERAL)
    assert earlier.reconsideration_days == 30
    legacy = earlier.limits["stage:screening"]
    assert (legacy.amount, legacy.source, legacy.exists) == (60, None, False)
    assert earlier.grievance_days == {}


def test_terminal_stage_used_as_a_source_is_refused():
    text = _changed(
        'source = ["monitoring"]\ndest = "closed"', 'source = ["closed"]\ndest = "closed"'
    )
    _assert_names(_refusal(text), "triggers.close_case.source", "stage 'closed' is terminal")


def test_unknown_stage_setting_is_refused():
    text = _changed('title = "Screening"\n', 'title = "Screening"\nwarp_speed = true\n')
    _assert_names(_refusal(text), "stages.screening.warp_speed", "is not a stage setting")


def test_a_terminal_stage_with_a_deliberation_period_is_refused():
    text = _changed("[stages.closed]\n", "[stages.closed]\ndeliberation_period = true\n")
    _assert_names(
        _refusal(text), "stages.closed.deliberation_period", "a terminal stage has no deliberation"
    )


def test_invalid_toml_is_refused_naming_the_file():
    path = "fpic/workflow/processes/broken.toml"
    error = _refusal(GENERAL + "\n[stages.oops\n", path)
    _assert_names(error, "(file)", "is not valid TOML", path)


def test_title_for_an_item_that_is_not_required_is_refused():
    text = _changed(
        "[disclosure_item_titles]\n", '[disclosure_item_titles]\nsecret_annex = "Secret annex"\n'
    )
    _assert_names(
        _refusal(text), "disclosure_item_titles.secret_annex", "not a required disclosure item"
    )


def test_two_shipped_templates_with_one_id_are_refused(monkeypatch):
    import fpic.workflow.process

    copies = [
        ("fpic/workflow/processes/a.toml", GENERAL),
        ("fpic/workflow/processes/b.toml", GENERAL),
    ]
    monkeypatch.setattr(fpic.workflow.process, "_shipped_files", lambda: copies)
    with pytest.raises(TemplateError) as caught:
        shipped_templates.__wrapped__()  # uncached: the real cache stays untouched
    _assert_names(caught.value, "id", "used by another template", "fpic/workflow/processes/b.toml")


def test_content_hash_changes_with_any_edit_of_the_text():
    edited = parse_template(GENERAL + "\n# a comment\n", GENERAL_PATH)
    assert edited.content_hash != parse_template(GENERAL, GENERAL_PATH).content_hash
    assert edited.triggers.keys() == shipped_templates()["fpic-general"].triggers.keys()


# --- a case is pinned to its template ------------------------------------------------------


@pytest.mark.parametrize("template_id", ["fpic-general", "ncip-ao3-2012"])
def test_case_is_pinned_to_template_id_version_and_hash(world, community, template_id):
    template: Template = shipped_templates()[template_id]
    case_id = world.open_case(community, template=template_id)
    case = world.case(case_id)
    assert case.template_id == template.id
    assert case.template_version == template.version
    assert case.template_hash == template.content_hash
    assert case.stage == template.initial
    assert world.engine.template_of(case) is template


def test_template_for_returns_the_installed_template_when_everything_matches():
    template = shipped_templates()["ncip-ao3-2012"]
    assert template_for(template.id, template.version, template.content_hash) is template


@pytest.mark.parametrize(
    ("version", "content_hash"),
    [
        ("1.0.0", "0" * 64),  # same version, edited text
        ("0.9.0", None),  # the text as installed, another version
    ],
)
def test_template_for_refuses_a_different_hash_or_version(version, content_hash):
    template = shipped_templates()["fpic-general"]
    with pytest.raises(TemplateError) as caught:
        template_for(template.id, version, content_hash or template.content_hash)
    [reason] = caught.value.reasons
    assert reason.code == "template_mismatch"
    assert reason.params == {"id": "fpic-general", "version": version}


def test_template_for_refuses_an_unknown_template():
    with pytest.raises(TemplateError) as caught:
        template_for("ilo-169-peru", "1.0.0", "0" * 64)
    assert caught.value.reasons[0].code == "template_mismatch"


def test_case_whose_template_changed_since_it_opened_cannot_move(world, community):
    case_id = world.open_case(community)
    with world.db.write_session() as session, session.begin():
        case = session.get(Case, case_id)
        assert case is not None
        case.template_hash = "f" * 64  # as if the installed file had been edited since
    with pytest.raises(TemplateError) as caught:
        world.act(case_id, "screen_in", world.liaison, {"text": "Customary lands affected."})
    assert caught.value.reasons[0].code == "template_mismatch"
    assert world.case(case_id).stage == "screening"


# --- released versions stay installed ------------------------------------------------------

RELEASED_GENERAL = "processes/released/fpic-general-1.3.0.toml"


def _released_text() -> str:
    return (resources.files("fpic.workflow") / RELEASED_GENERAL).read_text(encoding="utf-8")


def _pin(world, case_id: int, version: str, content_hash: str) -> None:
    """As if the case had been opened before the latest version shipped."""
    with world.db.write_session() as session, session.begin():
        case = session.get(Case, case_id)
        assert case is not None
        case.template_version, case.template_hash = version, content_hash


def test_a_case_opened_on_an_earlier_version_runs_on_it(world, community):
    earlier = parse_template(_released_text(), RELEASED_GENERAL)
    latest = shipped_templates()["fpic-general"]
    assert earlier.version == "1.3.0"
    assert earlier.version != latest.version
    assert template_for(earlier.id, earlier.version, earlier.content_hash).version == "1.3.0"
    old = world.open_case(community)
    _pin(world, old, earlier.version, earlier.content_hash)
    new = world.open_case(community)
    # 1.3.0 screened out with a field note; 1.4.0 needs the project's area screened first
    world.act(old, "screen_out", world.liaison, {"text": "No customary land in the area."})
    assert world.case(old).stage == "not_required"
    with pytest.raises(GuardRefused) as caught:
        world.act(new, "screen_out", world.liaison, {"text": "No customary land in the area."})
    assert [r.code for r in caught.value.reasons] == ["no_project_area"]
    # a new case is always opened on the latest
    assert world.case(new).template_version == latest.version


def test_an_installed_version_edited_since_is_refused(world, community, monkeypatch):
    earlier = parse_template(_released_text(), RELEASED_GENERAL)
    case_id = world.open_case(community)
    _pin(world, case_id, earlier.version, earlier.content_hash)
    tampered = _released_text().replace("deadline_days = 60", "deadline_days = 6000")
    monkeypatch.setattr(
        fpic.workflow.process, "_released_files", lambda: [(RELEASED_GENERAL, tampered)]
    )
    monkeypatch.setattr(
        fpic.workflow.process, "released_templates",
        cache(fpic.workflow.process.released_templates.__wrapped__),
    )  # fmt: skip
    with pytest.raises(TemplateError) as caught:
        world.act(case_id, "screen_in", world.liaison, {"text": "Customary lands affected."})
    assert caught.value.reasons[0].code == "template_mismatch"


def test_a_released_version_must_be_an_earlier_one(monkeypatch):
    latest = (resources.files("fpic.workflow") / "processes/general.toml").read_text("utf-8")
    monkeypatch.setattr(
        fpic.workflow.process, "_released_files", lambda: [(RELEASED_GENERAL, latest)]
    )
    with pytest.raises(TemplateError) as caught:
        fpic.workflow.process.released_templates.__wrapped__()
    _assert_names(caught.value, "version", "earlier version", RELEASED_GENERAL)


# --- what a stage means is a setting, not its name -----------------------------------------


@pytest.fixture
def third_template(monkeypatch) -> Iterator[Template]:
    """A third shipped template: the general one under another id, whose deliberation stage is
    called "reflection"."""
    text = (
        GENERAL.replace('id = "fpic-general"', 'id = "third-process"')
        .replace("[stages.deliberation]", "[stages.reflection]")
        .replace('"deliberation"', '"reflection"')
    )
    files = [*fpic.workflow.process._shipped_files(), ("fpic/workflow/processes/third.toml", text)]
    monkeypatch.setattr(fpic.workflow.process, "_shipped_files", lambda: files)
    shipped_templates.cache_clear()
    yield shipped_templates()["third-process"]
    monkeypatch.undo()
    shipped_templates.cache_clear()


def test_a_third_template_gets_the_deliberation_deadline_on_its_own_stage(
    world, community, third_template
):
    assert "deliberation" not in third_template.stages
    assert third_template.stages["reflection"].deliberation_period
    case_id = world.open_case(community, template="third-process")
    walk_to(world, case_id, "reflection", community)
    started = world.case(case_id).deliberation_started_at
    assert started is not None
    with world.db.read_session() as session:
        found = [
            d
            for d in deadlines(session, world.clock.now(), horizon_days=60)
            if d.kind == "deliberation"
        ]
    ends = (started + timedelta(days=PROTOCOL["min_deliberation_days"])).date()
    assert [(d.case_id, d.due) for d in found] == [(case_id, ends)]
