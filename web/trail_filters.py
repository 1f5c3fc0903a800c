"""The decision trail's filters in the reader's words: an action by the label the trail shows
for it, a case by its reference.

An action's label depends on the template of the case it was done on (the Native Title Act
calls consent "the native title parties' agreement"), several actions can share a label
("Register a material change"), and two labels can become one in a translation: a label
names every (template, action) pair the trail would show under it, in the reader's language.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from functools import cache

from flask_babel import gettext as _

from fpic.read.queries import ActionMatch
from fpic.workflow.process import shipped_templates
from web.i18n import SYSTEM_ACTIONS

#: actions that only the access chain holds: the sign-ins view lists them, not the trail's
#: filter
ACCESS_ACTIONS = ("sign_in", "sign_out")
#: what an action's code looks like (an older link filtered by code, not by label)
_CODE = re.compile(r"[a-z][a-z0-9_.]*")


@dataclass(frozen=True)
class Named:
    """An action as the trail names it: ``template`` None for a system action (named alike on
    every chain), else a trigger of that template; ``title`` the untranslated label."""

    template: str | None
    action: str
    title: str


@cache
def named_actions() -> tuple[Named, ...]:
    """Every action the trail's filter offers, with its label's message id (web.i18n's
    action_title reads the same tables in the same order: system actions first)."""
    system = [
        Named(None, code, title)
        for code, title in SYSTEM_ACTIONS.items()
        if code not in ACCESS_ACTIONS
    ]
    triggers = [
        Named(template.id, name, trigger.title)
        for template in shipped_templates().values()
        for name, trigger in template.triggers.items()
        if name not in SYSTEM_ACTIONS
    ]
    return (*system, *triggers)


def action_choices() -> list[tuple[str, str]]:
    """(value, label) for the filter's list: one per label in the reader's language, in the
    order of the labels; the value is a message id, the same in every language, so a link
    keeps its meaning when the reader changes language."""
    values: dict[str, str] = {}
    for named in named_actions():
        label = _(named.title)
        values[label] = min(values.get(label, named.title), named.title)
    return sorted(((value, label) for label, value in values.items()), key=_order)


def _order(choice: tuple[str, str]) -> tuple[str, str]:
    return choice[1].casefold(), choice[1]


def action_match(value: str) -> str | ActionMatch | None:
    """What a value of the filter finds: the actions its label names (the value is a label's
    message id, or a label as the reader reads it), an action's code as older links gave it,
    or None when it names no action."""
    label = _(value) if value in _message_ids() else value
    group = [named for named in named_actions() if _(named.title) == label]
    if not group:
        return value if _CODE.fullmatch(value) else None
    return _match(group)


@cache
def _message_ids() -> frozenset[str]:
    return frozenset(named.title for named in named_actions())


def _match(group: list[Named]) -> ActionMatch:
    """The SQL-ready form of a label's actions: a trigger named so in every template that has
    it is found on any event, one named so in some templates only on their cases' events."""
    anywhere = {named.action for named in group if named.template is None}
    templates_of: dict[str, set[str]] = defaultdict(set)
    for named in group:
        if named.template is not None:
            templates_of[named.action].add(named.template)
    restricted: dict[frozenset[str], set[str]] = defaultdict(set)
    for action, templates in templates_of.items():
        if templates == _templates_having(action):
            anywhere.add(action)
        else:
            restricted[frozenset(templates)].add(action)
    return ActionMatch(
        frozenset(anywhere),
        tuple(
            sorted(
                ((frozenset(a), t) for t, a in restricted.items()),
                key=lambda pair: (sorted(pair[1]), sorted(pair[0])),
            )
        ),
    )


def _templates_having(action: str) -> set[str]:
    return {t.id for t in shipped_templates().values() if action in t.triggers}
