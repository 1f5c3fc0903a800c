"""Every kind of action: its web form and the JSON API accept the same input and refuse the
same bad input with the same message, because both hand it to the one declaration.

For each declared action, a sample of good data and one bad value per field are sent twice:
as the JSON object an API client sends, and as the form a browser posts (every input present,
blank where empty; ticked boxes only). The engine's reading of both must be the same: the same
cleaned data, or the same refusal naming the same field.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import date
from html import unescape
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict
from wtforms import FieldList, FormField, MultipleFileField

from fpic.i18n import Reason
from fpic.storage.models import Case
from fpic.workflow.actions import ACTIONS
from fpic.workflow.errors import InvalidData
from fpic.workflow.guards import GuardContext
from fpic.workflow.process import Template, shipped_templates
from fpic.workflow.schema import Action, Field
from tests.factories import World, protocol, walk_to
from tests.web.conftest import csrf_token, field_errors
from web.forms import form_for, submitted
from web.i18n import reason_text
from web.openapi import API_PREFIX

MULTIPLE = ("choices", "list", "ids", "languages")
#: one bad value per kind of field (flags have none a checkbox can carry; records are lists
#: of the other kinds)
BAD = {
    "text": "   ",
    "short": " ",
    "name": "Ana\u202equispe",
    "language": "not a language",
    "day": "2026-02-30",
    "integer": "many",
    "choice": "nonsense",
    "choices": ["nonsense"],
    "id": "x",
    "ids": ["x"],
    "languages": ["??"],
    "accounts": ["nobody-has-this-name"],
}


def _trigger_for(effect: str) -> tuple[Template, str]:
    for template in shipped_templates().values():
        for name, trigger in template.triggers.items():
            if trigger.effect == effect:
                return template, name
    raise AssertionError(f"no shipped template fires {effect}")


def _every_action(
    app: Flask, world: World, case_id: int
) -> Iterator[tuple[Session, Case, str, Action]]:
    """Each declared action, with the case read in a request of the app (labels translate)."""
    with world.db.read_session() as db, app.test_request_context():
        case = db.get(Case, case_id)
        assert case is not None
        for effect, action in sorted(ACTIONS.items()):
            yield db, case, effect, action


def _shown(fields: tuple[Field, ...], case: Case) -> list[Field]:
    return [f for f in fields if f.shown is None or f.shown(case)]


def _sample(spec: Field, case: Case, template: Template, today: date) -> Any:
    offered = [c.value for c in spec.choices(case, template, today)] if spec.choices else []
    offered = [v for v in offered if v] or list(spec.allowed(template) or ())
    kind = spec.kind
    if kind == "records":
        return [{r.name: _sample(r, case, template, today) for r in _shown(spec.rows, case)}]
    if kind in ("choice", "choices", "list", "ids") and offered:
        first = int(offered[0]) if kind == "ids" else offered[0]
        return first if kind == "choice" else [first]
    simple: dict[str, Any] = {
        "text": "Ñawpa rimanakuy, written down.",
        "short": "Casa comunal",
        "name": "Ana Quispe",
        "language": "qu",
        "languages": ["qu", "es"],
        "day": today.isoformat(),
        "integer": spec.minimum,
        "flag": False,
        "id": 1,
        "ids": [1],
        "list": ["Asamblea"],
        "accounts": ["liaison"],
        # files cannot be typed: the API sends none, the form sends them as files (a file
        # input's refusals are the same for both: tests/web/test_evidence.py)
        "files": [],
    }
    return simple[kind]


def _form_post(
    fields: list[Field], data: dict[str, Any], case: Case, prefix: str = ""
) -> MultiDict:
    """The body a browser posts for ``data``: every shown input, blank when empty."""
    posted: MultiDict = MultiDict()
    for spec in fields:
        name, value = prefix + spec.name, data.get(spec.name)
        if spec.kind == "files":
            continue  # sent as files, not as text (tests/web/test_evidence.py)
        if spec.kind == "records":
            for index, row in enumerate(value or []):
                posted.update(_form_post(_shown(spec.rows, case), row, case, f"{name}-{index}-"))
        elif spec.kind == "flag":
            if value:
                posted.add(name, "y")
        elif spec.kind in MULTIPLE and spec.choices is not None:  # boxes: only the ticked
            for item in value or []:
                posted.add(name, str(item))
        elif isinstance(value, list):
            posted.add(name, ", ".join(str(v) for v in value))
        else:
            posted.add(name, "" if value is None else str(value))
    return posted


def _outcome(action: Action, data: Any, ctx: GuardContext) -> tuple[Any, ...]:
    try:
        return ("accepted", action.parse(data, ctx))
    except InvalidData as refused:
        return ("refused", refused.field, refused.reasons)


def _variants(action: Action, good: dict[str, Any], case: Case) -> list[tuple[str, dict]]:
    found = [("good", good)]
    for spec in _shown(action.fields, case):
        if spec.kind in BAD:
            found.append((f"bad {spec.name}", {**good, spec.name: BAD[spec.kind]}))
        if spec.is_required(case) and spec.kind not in ("flag", "records"):
            found.append((f"no {spec.name}", {k: v for k, v in good.items() if k != spec.name}))
    return found


def test_the_form_and_the_api_read_every_action_alike(
    app: Flask, world: World, case_at_decision: int
) -> None:
    seen: Counter[str] = Counter()
    differences: list[str] = []
    today = world.clock.now().date()
    for db, case, effect, action in _every_action(app, world, case_at_decision):
        template, name = _trigger_for(effect)
        ctx = GuardContext(
            db, template, case, world.liaison, template.triggers[name], world.clock.now()
        )
        fields = _shown(action.fields, case)
        good = {f.name: _sample(f, case, template, today) for f in fields}
        for label, data in _variants(action, good, case):
            posted = submitted(_form_post(fields, data, case))
            by_api, by_form = _outcome(action, data, ctx), _outcome(action, posted, ctx)
            seen[by_api[0]] += 1
            seen[effect] += 1
            if by_api != by_form:
                differences.append(f"{effect} ({label}): API {by_api!r} / form {by_form!r}")
            elif by_api[0] == "refused":
                # the message a person reads: the same text, the field called by its label
                assert reason_text(by_api[2][0], action) == reason_text(by_form[2][0], action)
    assert not differences, "\n".join(differences)
    # every action was tried, and both the accepting and the refusing paths were taken
    assert all(seen[effect] >= 2 for effect in ACTIONS), seen
    assert seen["accepted"] >= 20, seen
    assert seen["refused"] >= 150, seen


@pytest.mark.parametrize("effect", sorted(ACTIONS))
def test_every_declared_field_has_a_label_and_a_kind_the_form_knows(effect: str) -> None:
    action = ACTIONS[effect]
    names = [f.name for f in action.fields]
    assert len(names) == len(set(names)), "a field declared twice"
    for spec in action.fields:
        assert spec.label.strip(), spec.name
        if spec.kind in ("choice", "choices") and spec.choices is None:
            assert spec.options is not None, f"{spec.name}: no options to offer"
            assert spec.vocabulary, f"{spec.name}: no titles for its options"


# --- the form's reading without the form -------------------------------------------------------


def _read_by_wtforms(form: Any) -> dict[str, Any]:
    """What the form's own fields read from a submission (the web sent this to the engine
    before ``submitted`` read the submission without building the form)."""
    return {
        name: _field_value(field)
        for name, field in form._fields.items()
        if name not in ("csrf_token", "version", "password")
    }


def _field_value(field: Any) -> Any:
    if isinstance(field, MultipleFileField):
        # files are read from the request's files, never from its text fields: text sent under
        # a file input's name reads as no file (tests/web/test_evidence.py sends real files)
        return []
    if isinstance(field, FieldList):
        rows = [_field_value(entry) for entry in field.entries]
        return [row for row in rows if not _blank(row)]
    if isinstance(field, FormField):
        return {name: _field_value(sub) for name, sub in field.form._fields.items()}
    return field.data


def _blank(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_blank(v) for v in value.values())
    return value in (None, "", False, [])


def _input_names(fields: list[Field], case: Case, prefix: str = "") -> list[str]:
    """The names a form's inputs carry, with rows 0 to 3 of each list of records."""
    names: list[str] = []
    for spec in fields:
        if spec.kind == "records":
            for index in range(4):
                names += _input_names(
                    _shown(spec.rows, case), case, f"{prefix}{spec.name}-{index}-"
                )
        else:
            names.append(prefix + spec.name)
    return names


SENT_VALUES = st.sampled_from(["", "y", "false", "qu", "2026-03-02", "7", " Ayllu ", "1"])


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_a_submission_is_read_as_the_forms_fields_read_it(
    app: Flask, world: World, case_at_decision: int, data: st.DataObject
) -> None:
    """Any submission of any action's form, with inputs left out, sent twice or out of
    order, reads the same through ``submitted`` as through the fields of the form the page
    renders."""
    today = world.clock.now().date()
    for _db, case, effect, action in _every_action(app, world, case_at_decision):
        template, name = _trigger_for(effect)
        names = _input_names(_shown(action.fields, case), case)
        sent = data.draw(
            st.lists(st.tuples(st.sampled_from(names), SENT_VALUES), max_size=12),
            label=effect,
        )
        posted = MultiDict(sent)
        form = form_for(template.triggers[name], case, template, today, posted)
        assert submitted(posted)(action, case, today) == _read_by_wtforms(form), effect


# --- what a person reads of a refusal ------------------------------------------------------------


def _errors_summary(page: str) -> list[tuple[str, str]]:
    """The links of the error summary at the top of the page: (target id, message)."""
    box = re.search(r'<div class="error-summary"[^>]*>(.*?)</div>', page, re.S)
    assert box is not None, "no error summary on the page"
    assert 'role="alert"' in box.group(0)
    assert 'tabindex="-1"' in box.group(0)
    links = re.findall(r'<a href="#([^"]+)">(.*?)</a>', box.group(1), re.S)
    return [(target, unescape(text).strip()) for target, text in links]


def test_a_long_form_sent_with_mistakes_lists_them_at_the_top_linked_to_their_fields(
    world: World, signed_in: Any, community: Any
) -> None:
    case_id = world.open_case(community)
    walk_to(world, case_id, "disclosure", community)
    liaison = signed_in("liaison")
    url = f"/cases/{case_id}/actions/register_disclosure"
    response = liaison.submit(url, {"item": "nature_scope_and_pace", "title": "Booklet"})
    assert response.status_code == 400
    summary = _errors_summary(response.text)
    # the engine stops at the first bad field: the group of boxes, linked to its first box
    assert summary == [("languages-0", "“Languages” is required.")]
    assert 'id="languages-0"' in response.text
    # a page without mistakes has no summary
    assert 'class="error-summary"' not in liaison.get(url).text


def test_the_summary_names_the_field_of_a_message_that_does_not(
    world: World, signed_in: Any
) -> None:
    """WTForms' own message does not say which field it is about: the summary adds the label."""
    admin = signed_in("admin")
    form = {"username": "", "display_name": "María", "role": "liaison", "representative_id": ""}
    response = admin.submit("/admin/users", form)
    assert response.status_code == 400
    assert ("username", "User name: This field is required.") in _errors_summary(response.text)


def test_a_refused_choice_lists_the_options_by_their_titles(
    world: World, signed_in: Any, community: Any
) -> None:
    case_id = world.open_case(community)
    walk_to(world, case_id, "protocol", community)
    rep = signed_in(community.rep_actors[0].username)
    url = f"/cases/{case_id}/actions/agree_protocol"
    sent = {key: str(value) for key, value in protocol().items() if not isinstance(value, list)}
    response = rep.submit(url, {**sent, "formats": ["written"], "decision_rule": "by_lot"})
    assert response.status_code == 400
    errors = field_errors(response.text, "decision_rule")
    assert errors == [
        "“Decision rule” must be one of: Consensus, Simple majority, Qualified majority."
    ]


def test_a_field_read_only_for_some_answers_says_which_to_the_script_that_hides_it(
    world: World, signed_in: Any, community: Any
) -> None:
    case_id = world.open_case(community)
    walk_to(world, case_id, "protocol", community)
    rep = signed_in(community.rep_actors[0].username)
    page = rep.get(f"/cases/{case_id}/actions/agree_protocol").text
    majority = re.search(r'<input[^>]*id="majority_percent"[^>]*>', page)
    assert majority is not None
    assert 'data-when="decision_rule"' in majority.group(0)
    assert 'data-when-values="qualified_majority"' in majority.group(0)
    with rep.get("/static/fpic.js") as script:
        assert script.status_code == 200
        assert b"data-when" in script.data
    assert '<script src="/static/fpic.js" defer></script>' in page


def test_a_stale_form_says_what_changed_without_the_cases_version_numbers(
    world: World, signed_in: Any, community: Any, case_at_decision: int
) -> None:
    url = f"/cases/{case_at_decision}/actions/ask_question"
    liaison = signed_in("liaison")
    form_page = liaison.get(url)
    world.act(
        case_at_decision, "ask_question", community.rep_actors[0],
        {"text": "Is the water safe?", "language": "qu"},
    )  # fmt: skip
    response = liaison.client.post(url, data={
        "csrf_token": csrf_token(form_page.text), "version": "1",
        "text": "Who repairs the road?", "language": "es",
    })  # fmt: skip
    assert response.status_code == 409
    assert "This case changed while you were working" in response.text
    assert not re.search(r"\bversion \d+", response.text)


def test_a_person_reads_a_choices_options_by_title_and_an_api_client_by_code(app: Flask) -> None:
    reason = Reason(
        "invalid_data", "%(field)s must be one of: %(options)s.",
        {"field": "decision_rule", "options": "consensus, simple_majority, qualified_majority"},
    )  # fmt: skip
    with app.test_request_context("/cases/1/actions/agree_protocol"):
        assert reason_text(reason, ACTIONS["protocol"]) == (
            "“Decision rule” must be one of: Consensus, Simple majority, Qualified majority."
        )
    with app.test_request_context(f"{API_PREFIX}/cases/1/actions/agree_protocol"):
        assert reason_text(reason, ACTIONS["protocol"]) == (
            "“Decision rule” must be one of: consensus, simple_majority, qualified_majority."
        )
