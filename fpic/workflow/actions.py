"""Every kind of action there is, gathered once: the process's (:mod:`fpic.workflow.effects`),
the grievance mechanism's (:mod:`fpic.workflow.grievances`), where the project is
(:mod:`fpic.workflow.places`) and the restoration of a legacy site's
(:mod:`fpic.workflow.restoration`, which also registers its rules on import). The engine parses
and writes with these; the web builds its forms and the API its JSON Schemas from them.

Adding a kind of action is one :class:`~fpic.workflow.schema.Action` declaration in one of those
modules
(its fields, its checks, its writer), listed in that module's ``ACTIONS``, and a trigger naming
its effect in a template's TOML (docs/architecture.md, "Add an action").
"""

from __future__ import annotations

from typing import Any

from fpic.workflow import authorities, effects, grievances, places, restoration
from fpic.workflow.process import Template
from fpic.workflow.schema import Action
from fpic.workflow.schema import data_schema as _data_schema


def _gathered(*groups: tuple[Action, ...]) -> dict[str, Action]:
    found: dict[str, Action] = {}
    for action in (a for group in groups for a in group):
        if action.effect in found:
            raise ValueError(f"the effect {action.effect!r} is declared twice")
        found[action.effect] = action
    return found


ACTIONS: dict[str, Action] = _gathered(
    effects.ACTIONS, authorities.ACTIONS, grievances.ACTIONS, places.ACTIONS, restoration.ACTIONS
)


def data_schema(effect: str, template: Template | None = None) -> dict[str, Any]:
    """The JSON Schema (2020-12) of the data of an action with ``effect``; given a template,
    choices read from it (its items of information) are listed too."""
    return _data_schema(ACTIONS[effect], template)


def needs_password(effect: str) -> bool:
    """Whether the person enters their password again for this action (the engine checks)."""
    return ACTIONS[effect].needs_password
