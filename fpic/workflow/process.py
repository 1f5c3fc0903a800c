"""Process templates: loaded from TOML, validated, and turned into one shared state machine.

A template is data (``fpic/workflow/processes/*.toml``): stages, triggers, the roles that may fire
each
trigger, the guards on it and the record it writes. Loading refuses anything that names an
unknown stage, role, guard or effect, naming the file and the key. A case stays pinned to the
template id, version and content hash it was opened with, so any edit of a template's text
comes with a new ``version``.

What a stage means for the rules is said by its settings, never by its name: ``terminal``,
``loop`` (reached only through a loop), ``deadline_days`` (advisory), ``consent_in_force`` (a
valid consent is in force there: conditions, withdrawal, joint monitoring) and
``deliberation_period`` (the community deliberates on its own there, and the protocol's
minimum deliberation period is shown as a deadline). Neither the engine nor the web interface
names a stage of a shipped template.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, cached_property
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar, overload

from transitions import Machine

from fpic.i18n import N_, Reason
from fpic.storage.models import OUTCOMES, ROLES
from fpic.workflow.errors import TemplateError

STAY = "="  #: a trigger that records something without changing the stage
BACK = "@suspended_from"  #: go back to the stage the process was suspended in
ANY = "*"  #: every stage that is not terminal

_T = TypeVar("_T")
_D = TypeVar("_D")


@dataclass(frozen=True)
class Stage:
    name: str
    title: str
    description: str
    terminal: bool = False
    #: a valid consent is in force while the case stands here
    consent_in_force: bool = False
    #: the community deliberates on its own here: the protocol's minimum deliberation period,
    #: counted from complete disclosure, is shown as a deadline while the case stands here
    deliberation_period: bool = False
    #: advisory only: a stage that lasts longer shows as overdue and never moves by itself
    deadline_days: int | None = None
    #: reached only through a loop (suspension, withholding ...), not on the main path
    loop: bool = False


DAY_TYPES = ("calendar", "working", "unspecified")


@dataclass(frozen=True)
class Limit:
    """A time limit: so many days or months from a stage's entry or from an action's day.

    Every limit in a template a case can be opened on cites the provision it comes from
    (``source``), or is a number the community agrees in its protocol (``protocol``), with a
    default whose origin is cited (``default_source``). A released version may hold an older,
    unsourced one (``source`` None): it still binds the cases pinned to it, and is never shown
    as overdue."""

    name: str
    title: str
    #: None only for a protocol limit with no default: none runs until the community sets one
    amount: int | None
    unit: str  #: "days" or "months"
    #: with days: "calendar", "working", or "unspecified" where the text does not say
    day_type: str | None
    #: the triggers whose day starts it (the latest of them); empty: entering the stage
    counted_from: tuple[str, ...]
    #: while the case stands in one of these, the limit is shown as due or overdue
    stages: tuple[str, ...]
    source: str | None
    protocol: bool = False
    default_source: str | None = None

    @property
    def from_stage_entry(self) -> bool:
        return not self.counted_from

    @property
    def exists(self) -> bool:
        """Whether a text or the community set it, so that passing it means something."""
        return self.protocol or self.source is not None


@dataclass(frozen=True)
class Trigger:
    name: str
    title: str
    description: str
    sources: tuple[str, ...]
    dest: str
    roles: tuple[str, ...]
    guards: tuple[str, ...]
    effect: str
    outcome: str | None = None
    #: refused once these limits have passed (a window) / until they have passed
    within: tuple[str, ...] = ()
    not_before: tuple[str, ...] = ()
    #: refused until each of these triggers has been recorded on the case (the bond before
    #: any activity)
    after: tuple[str, ...] = ()
    #: a representative fires it in the community's name, so only under a mandate in force;
    #: ``without_mandate = true`` in the template opens it to every representative of the
    #: community (asking a question, lodging a grievance: anyone may)
    speaks_for_community: bool = True

    @property
    def changes_stage(self) -> bool:
        return self.dest != STAY


@dataclass(frozen=True)
class Template:
    id: str
    version: str
    title: str
    description: str
    sources: tuple[str, ...]
    initial: str
    content_hash: str
    path: str
    stages: dict[str, Stage]
    triggers: dict[str, Trigger]
    required_disclosure_items: tuple[str, ...]
    #: what each disclosure item is called in the interface (translated like other texts)
    item_titles: dict[str, str]
    #: the legacy window of a released version (``reconsideration_days``): a template now
    #: declares it as a limit its request trigger is ``within``
    reconsideration_days: int | None
    machine: Machine = field(repr=False, compare=False)
    #: the time limits, by name (a stage's legacy ``deadline_days`` is one named ``stage:<name>``)
    limits: dict[str, Limit] = field(default_factory=dict)
    #: the grievance steps' limits with their sources, by step
    grievance_limits: dict[str, Limit] = field(default_factory=dict)
    #: the roles that may open a case on it
    opened_by: tuple[str, ...] = ("liaison",)
    #: the item of information a screening that finds critical habitat makes required
    #: (fpic.workflow.guards.critical_habitat_disclosed), if the template has that rule
    critical_habitat_item: str | None = None
    #: whether an extractive project overlapping a World Heritage property cannot be consented
    #: (ICMM 2003); a template may say otherwise
    world_heritage_no_go: bool = True

    @property
    def disclosure_items(self) -> tuple[str, ...]:
        """Every item a disclosure may be of: the required ones, and those a rule may add."""
        extra = (self.critical_habitat_item,) if self.critical_habitat_item else ()
        return self.required_disclosure_items + extra

    @cached_property
    def milestones(self) -> frozenset[str]:
        """The triggers whose day a case remembers: those a limit counts from or a trigger
        must come after."""
        counted = {t for limit in self.limits.values() for t in limit.counted_from}
        return frozenset(counted | {t for trigger in self.triggers.values() for t in trigger.after})

    @property
    def grievance_days(self) -> dict[str, int]:
        """The days from receipt by which each step of a grievance is due by default (UNGP 31:
        predictable), for the steps whose limit exists; a case's protocol may set others
        (fpic.workflow.limits.grievance_days)."""
        return {
            step: limit.amount
            for step, limit in self.grievance_limits.items()
            if limit.exists and limit.amount is not None
        }

    @property
    def agreed_limits(self) -> list[Limit]:
        """The limits whose number the community agrees in its protocol."""
        found = [*self.limits.values(), *self.grievance_limits.values()]
        return [limit for limit in found if limit.protocol]

    def kind_of(self, limit: Limit) -> str:
        """``window``: an action must come within it (a request for reconsideration, an
        objection): once closed it is simply closed, nobody is late; ``opens``: an action waits
        for it (six months of negotiation); ``limit``: how long a stage may take, after which the
        case is overdue (advisory: nothing moves)."""
        if any(limit.name in t.not_before for t in self.triggers.values()):
            return "opens"
        if any(limit.name in t.within for t in self.triggers.values()):
            return "window"
        return "limit"

    def is_deadline(self, limit: Limit) -> bool:
        """Whether passing ``limit`` makes a case overdue."""
        return self.kind_of(limit) == "limit"

    def item_title(self, item: str) -> str:
        return self.item_titles.get(item, item.replace("_", " "))

    def triggers_from(self, stage: str) -> list[Trigger]:
        return [t for t in self.triggers.values() if stage in t.sources]

    def fire(self, case: Any, trigger: str) -> None:
        """Move ``case`` (any object with ``stage`` and ``suspended_from``) along ``trigger``.

        Fired on the shared machine, so ORM rows that never ran ``__init__`` work too.
        """
        if not self.machine.events[trigger].trigger(case):
            raise RuntimeError(f"no transition of {trigger!r} applied from {case.stage!r}")


def _known_guards() -> set[str]:
    # the modules of actions register the rules declared beside them (fpic.workflow.restoration)
    # when fpic.workflow.actions gathers them: gathered first, whatever was imported before
    import fpic.workflow.actions  # noqa: F401
    from fpic.workflow.guards import GUARDS

    return set(GUARDS)


def _known_effects() -> set[str]:
    from fpic.workflow.actions import ACTIONS

    return set(ACTIONS)


class _Reader:
    """Reads one TOML file and names the file and key in every complaint."""

    def __init__(self, path: str, data: dict[str, Any]) -> None:
        self.path, self.data = path, data

    def fail(self, key: str, message: str) -> TemplateError:
        return TemplateError(
            Reason(
                "template_invalid",
                N_("Process template %(file)s, key %(key)s: %(problem)s"),
                {"file": self.path, "key": key, "problem": message},
            )
        )

    @overload
    def get(self, table: dict[str, Any], key: str, where: str, kind: type[_T]) -> _T: ...

    @overload
    def get(
        self, table: dict[str, Any], key: str, where: str, kind: type[_T], default: _D
    ) -> _T | _D: ...

    def get(
        self, table: dict[str, Any], key: str, where: str, kind: type[_T], default: object = ...
    ) -> object:
        if key not in table:
            if default is ...:
                raise self.fail(f"{where}.{key}" if where else key, "is missing")
            return default
        value = table[key]
        if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
            raise self.fail(f"{where}.{key}" if where else key, f"must be a {kind.__name__}")
        return value

    def names(self, table: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
        value = self.get(table, key, where, list)
        if not all(isinstance(v, str) for v in value):
            raise self.fail(f"{where}.{key}", "must be a list of strings")
        return tuple(value)


def parse_template(text: str, path: str) -> Template:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _Reader(path, {}).fail("(file)", f"is not valid TOML: {exc}") from exc
    r = _Reader(path, data)
    stages = _read_stages(r)
    initial = r.get(data, "initial", "", str)
    if initial not in stages:
        raise r.fail("initial", f"names unknown stage {initial!r}")
    triggers = _read_triggers(r, stages)
    # read in this order so that a file with several problems names the same one first
    template_id = r.get(data, "id", "", str)
    version = r.get(data, "version", "", str)
    title = r.get(data, "title", "", str)
    description = r.get(data, "description", "", str)
    sources = r.names(data, "sources", "")
    required = r.names(data, "required_disclosure_items", "")
    reconsideration_days = r.get(data, "reconsideration_days", "", int, None)
    item_titles = _read_item_titles(r)
    grievance_limits = _read_grievance_days(r)
    limits = _read_limits(r, stages, triggers)
    _check_limits_named(r, triggers, limits)
    opened_by = _read_opened_by(r)
    critical_habitat_item = r.get(data, "critical_habitat_item", "", str, None)
    world_heritage_no_go = r.get(data, "world_heritage_no_go", "", bool, True)
    if not required:
        raise r.fail("required_disclosure_items", "must name at least one item")
    if critical_habitat_item in required:
        raise r.fail("critical_habitat_item", "is already a required disclosure item")
    return Template(
        id=template_id,
        version=version,
        title=title,
        description=description,
        sources=sources,
        initial=initial,
        content_hash=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        path=path,
        stages=stages,
        triggers=triggers,
        required_disclosure_items=required,
        reconsideration_days=reconsideration_days,
        item_titles=item_titles,
        machine=_build_machine(stages, triggers, initial),
        limits={**_legacy_stage_limits(r, stages), **limits},
        grievance_limits=grievance_limits,
        opened_by=opened_by,
        critical_habitat_item=critical_habitat_item,
        world_heritage_no_go=world_heritage_no_go,
    )


def _read_opened_by(r: _Reader) -> tuple[str, ...]:
    # who may open a case at all is a permission; a template narrows it to its regime's convener
    from fpic.workflow.permissions import CASE_OPENING_ROLES

    if "opened_by" not in r.data:
        return ("liaison",)
    opened_by = r.names(r.data, "opened_by", "")
    for role in opened_by:
        if role not in CASE_OPENING_ROLES:
            raise r.fail("opened_by", f"names a role that cannot open a case: {role!r}")
    return opened_by


def _read_item_titles(r: _Reader) -> dict[str, str]:
    titles = r.get(r.data, "disclosure_item_titles", "", dict, {})
    items = set(r.names(r.data, "required_disclosure_items", ""))
    items.add(r.get(r.data, "critical_habitat_item", "", str, ""))
    for item, title in titles.items():
        if item not in items:
            raise r.fail(f"disclosure_item_titles.{item}", "is not a required disclosure item")
        if not isinstance(title, str):
            raise r.fail(f"disclosure_item_titles.{item}", "must be a string")
    return dict(titles)


#: steps of a grievance that have a time limit, and the limit a released version that set none
#: had (it cited nothing: such a limit is never shown as overdue)
GRIEVANCE_DAYS = {"acknowledge": 7, "assess": 30, "respond": 45, "close": 90}


def _read_grievance_days(r: _Reader) -> dict[str, Limit]:
    table = r.get(r.data, "grievance_days", "", dict, {})
    limits = {
        step: Limit(step, step, days, "days", "calendar", (), (), None)
        for step, days in GRIEVANCE_DAYS.items()
    }
    for step, spec in table.items():
        where = f"grievance_days.{step}"
        if step not in GRIEVANCE_DAYS:
            raise r.fail(where, f"is not a grievance step (one of {', '.join(GRIEVANCE_DAYS)})")
        if isinstance(spec, dict):
            limits[step] = _read_limit(r, f"grievance.{step}", spec, where, grievance=True)
        else:  # a released version's bare number of days
            days = r.get(table, step, "grievance_days", int)
            if days < 1:
                raise r.fail(where, "must be at least 1")
            limits[step] = Limit(step, step, days, "days", "calendar", (), (), None)
        if limits[step].unit != "days":
            raise r.fail(where, "a grievance's steps are counted in days")
    amounts = [limit.amount for limit in limits.values() if limit.amount is not None]
    if amounts != sorted(amounts):
        raise r.fail("grievance_days", "each step must be due no earlier than the one before")
    return limits


_LIMIT_KEYS = {
    "title", "description", "days", "months", "day_type", "counted_from", "stages", "source",
    "protocol", "default_source",
}  # fmt: skip


def _read_limit(
    r: _Reader, name: str, spec: dict[str, Any], where: str, grievance: bool = False
) -> Limit:
    unknown = set(spec) - _LIMIT_KEYS
    if unknown:
        raise r.fail(f"{where}.{sorted(unknown)[0]}", "is not a time limit setting")
    protocol = r.get(spec, "protocol", where, bool, False)
    if "days" in spec and "months" in spec:
        raise r.fail(where, "needs one of days and months, not both")
    unit = "months" if "months" in spec else "days"
    # a number the community sets may have no default: no limit runs until it does
    amount = r.get(spec, unit, where, int) if unit in spec or not protocol else None
    if amount is not None and amount < 1:
        raise r.fail(f"{where}.{unit}", "must be at least 1")
    day_type = r.get(spec, "day_type", where, str, None)
    if unit == "days" and day_type not in DAY_TYPES:
        raise r.fail(f"{where}.day_type", f"must be one of {', '.join(DAY_TYPES)}")
    if unit == "months" and day_type is not None:
        raise r.fail(f"{where}.day_type", "applies to days only")
    source = r.get(spec, "source", where, str, None)
    default_source = r.get(spec, "default_source", where, str, None)
    if protocol and not (default_source or "").strip():
        raise r.fail(
            f"{where}.default_source", "a protocol limit cites where its default comes from"
        )
    if not protocol and not (source or "").strip():
        raise r.fail(
            f"{where}.source", "a time limit cites its source, or is agreed in the protocol"
        )
    counted = spec.get("counted_from", "stage_entry")
    if grievance and "counted_from" in spec:
        raise r.fail(f"{where}.counted_from", "a grievance's steps count from its receipt")
    counted_from = () if counted == "stage_entry" else r.names(spec, "counted_from", where)
    stages = r.names(spec, "stages", where) if "stages" in spec else ()
    return Limit(
        name=name,
        title=r.get(spec, "title", where, str),
        amount=amount,
        unit=unit,
        day_type=day_type,
        counted_from=counted_from,
        stages=stages,
        source=source,
        protocol=protocol,
        default_source=default_source,
    )


def _read_limits(
    r: _Reader, stages: dict[str, Stage], triggers: dict[str, Trigger]
) -> dict[str, Limit]:
    limits = {}
    for name, spec in r.get(r.data, "limits", "", dict, {}).items():
        where = f"limits.{name}"
        if not isinstance(spec, dict):
            raise r.fail(where, "must be a table")
        limit = _read_limit(r, name, spec, where)
        for stage in limit.stages:
            if stage not in stages:
                raise r.fail(f"{where}.stages", f"names unknown stage {stage!r}")
        for trigger in limit.counted_from:
            if trigger not in triggers:
                raise r.fail(f"{where}.counted_from", f"names unknown trigger {trigger!r}")
        if limit.from_stage_entry and len(limit.stages) != 1:
            raise r.fail(
                f"{where}.stages", "a limit counted from a stage's entry names that one stage"
            )
        limits[name] = limit
    return limits


def _check_limits_named(r: _Reader, triggers: dict[str, Trigger], limits: dict[str, Limit]) -> None:
    for trigger in triggers.values():
        for key in ("within", "not_before"):
            for name in getattr(trigger, key):
                if name not in limits or limits[name].from_stage_entry:
                    raise r.fail(
                        f"triggers.{trigger.name}.{key}",
                        f"names {name!r}, which is not a limit counted from an action",
                    )
        for name in trigger.after:
            if name not in triggers:
                raise r.fail(f"triggers.{trigger.name}.after", f"names unknown trigger {name!r}")


def _legacy_stage_limits(r: _Reader, stages: dict[str, Stage]) -> dict[str, Limit]:
    """A released version's ``deadline_days``: kept for its cases, cited by nothing."""
    return {
        f"stage:{stage.name}": Limit(
            f"stage:{stage.name}", stage.title, stage.deadline_days, "days", "calendar", (),
            (stage.name,), None,
        )
        for stage in stages.values()
        if stage.deadline_days is not None
    }  # fmt: skip


def _read_stages(r: _Reader) -> dict[str, Stage]:
    table = r.get(r.data, "stages", "", dict)
    if not table:
        raise r.fail("stages", "must define at least one stage")
    stages: dict[str, Stage] = {}
    for name, spec in table.items():
        where = f"stages.{name}"
        if not isinstance(spec, dict):
            raise r.fail(where, "must be a table")
        unknown = set(spec) - {
            "title",
            "description",
            "terminal",
            "consent_in_force",
            "deliberation_period",
            "deadline_days",
            "loop",
        }
        if unknown:
            raise r.fail(f"{where}.{sorted(unknown)[0]}", "is not a stage setting")
        if spec.get("terminal") is True and spec.get("deliberation_period") is True:
            raise r.fail(f"{where}.deliberation_period", "a terminal stage has no deliberation")
        stages[name] = Stage(
            name=name,
            title=r.get(spec, "title", where, str),
            description=r.get(spec, "description", where, str),
            terminal=r.get(spec, "terminal", where, bool, False),
            consent_in_force=r.get(spec, "consent_in_force", where, bool, False),
            deliberation_period=r.get(spec, "deliberation_period", where, bool, False),
            deadline_days=r.get(spec, "deadline_days", where, int, None),
            loop=r.get(spec, "loop", where, bool, False),
        )
    return stages


def _read_triggers(r: _Reader, stages: dict[str, Stage]) -> dict[str, Trigger]:
    guards, effects = _known_guards(), _known_effects()
    triggers: dict[str, Trigger] = {}
    for name, spec in r.get(r.data, "triggers", "", dict).items():
        where = f"triggers.{name}"
        if not isinstance(spec, dict):
            raise r.fail(where, "must be a table")
        sources = _read_sources(r, spec, where, stages)
        dest = r.get(spec, "dest", where, str)
        if dest not in (STAY, BACK) and dest not in stages:
            raise r.fail(f"{where}.dest", f"names unknown stage {dest!r}")
        roles = r.names(spec, "roles", where)
        for role in roles:
            if role not in ROLES:
                raise r.fail(f"{where}.roles", f"names unknown role {role!r}")
        trigger_guards = r.names(spec, "guards", where) if "guards" in spec else ()
        for guard in trigger_guards:
            if guard not in guards:
                raise r.fail(f"{where}.guards", f"names unknown guard {guard!r}")
        effect = r.get(spec, "effect", where, str)
        if effect not in effects:
            raise r.fail(f"{where}.effect", f"names unknown effect {effect!r}")
        outcome = r.get(spec, "outcome", where, str, None)
        if (effect == "decision") != (outcome is not None):
            raise r.fail(f"{where}.outcome", "is needed by, and only by, the decision effect")
        if outcome is not None and outcome not in OUTCOMES:
            raise r.fail(f"{where}.outcome", f"names unknown outcome {outcome!r}")
        triggers[name] = Trigger(
            name=name,
            title=r.get(spec, "title", where, str),
            description=r.get(spec, "description", where, str),
            sources=sources,
            dest=dest,
            roles=roles,
            guards=trigger_guards,
            effect=effect,
            outcome=outcome,
            speaks_for_community=not r.get(spec, "without_mandate", where, bool, False),
            within=r.names(spec, "within", where) if "within" in spec else (),
            not_before=r.names(spec, "not_before", where) if "not_before" in spec else (),
            after=r.names(spec, "after", where) if "after" in spec else (),
        )
    return triggers


def _read_sources(
    r: _Reader, spec: dict[str, Any], where: str, stages: dict[str, Stage]
) -> tuple[str, ...]:
    sources = r.names(spec, "source", where)
    if sources == (ANY,):
        return tuple(name for name, stage in stages.items() if not stage.terminal)
    for source in sources:
        if source not in stages:
            raise r.fail(f"{where}.source", f"names unknown stage {source!r}")
        if stages[source].terminal:
            raise r.fail(f"{where}.source", f"stage {source!r} is terminal")
    return sources


def _build_machine(stages: dict[str, Stage], triggers: dict[str, Trigger], initial: str) -> Machine:
    transitions: list[dict[str, Any]] = []
    suspendable = sorted({s for t in triggers.values() if t.effect == "suspend" for s in t.sources})
    for trigger in triggers.values():
        for source in trigger.sources:
            if trigger.dest == STAY:
                transitions.append({"trigger": trigger.name, "source": source, "dest": None})
            elif trigger.dest == BACK:
                transitions.extend(
                    {
                        "trigger": trigger.name,
                        "source": source,
                        "dest": stage,
                        "conditions": [_was_suspended_in(stage)],
                    }
                    for stage in suspendable
                )
            else:
                transitions.append(
                    {"trigger": trigger.name, "source": source, "dest": trigger.dest}
                )
    return Machine(
        model=None,
        states=list(stages),
        transitions=transitions,
        initial=initial,
        auto_transitions=False,
        send_event=True,
        model_attribute="stage",
    )


def _was_suspended_in(stage: str) -> Callable[[Any], bool]:
    def condition(event: Any) -> bool:
        return bool(event.model.suspended_from == stage)

    return condition


# --- the shipped templates -----------------------------------------------------------------


def _shipped_files() -> list[tuple[str, str]]:
    return _files_in("processes")


def _files_in(folder_name: str) -> list[tuple[str, str]]:
    folder = resources.files("fpic.workflow").joinpath(*folder_name.split("/"))
    return sorted(
        (f"fpic/workflow/{folder_name}/{entry.name}", entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".toml")
    )


def _released_files() -> list[tuple[str, str]]:
    """Earlier versions of the templates, exactly as they were released: a case stays on the
    version it was opened with (``processes/released/<id>-<version>.toml``)."""
    return _files_in("processes/released")


@cache
def shipped_templates() -> dict[str, Template]:
    """The latest version of every template in ``fpic/workflow/processes``, by id: what a new
    case is opened with; built once per process."""
    templates: dict[str, Template] = {}
    for path, text in _shipped_files():
        template = parse_template(text, path)
        if template.id in templates:
            raise _Reader(path, {}).fail("id", f"{template.id!r} is used by another template")
        templates[template.id] = template
    return templates


def installed_templates() -> dict[tuple[str, str, str], Template]:
    """Every version installed, the latest and the released ones, by (id, version, SHA-256 of
    its text): the exact text a case was pinned to, or nothing."""
    latest = {(t.id, t.version, t.content_hash): t for t in shipped_templates().values()}
    return {**released_templates(), **latest}


@cache
def released_templates() -> dict[tuple[str, str, str], Template]:
    """The earlier versions, built once per process."""
    latest = {t.id: t.version for t in shipped_templates().values()}
    released = {}
    for path, text in _released_files():
        template = parse_template(text, path)
        if template.id not in latest or template.version == latest[template.id]:
            raise _Reader(path, {}).fail(
                "version", "a released version must be an earlier version of a shipped template"
            )
        released[(template.id, template.version, template.content_hash)] = template
    return released


def pinned_template(case: Any) -> Template | None:
    """The installed version a case (anything with its template's id, version and hash) is
    pinned to, or None: for reading, where a missing version shows nothing rather than fails."""
    return installed_templates().get((case.template_id, case.template_version, case.template_hash))


def load_template_file(path: Path) -> Template:
    return parse_template(path.read_text(encoding="utf-8"), str(path))


def template_for(template_id: str, version: str, content_hash: str) -> Template:
    """The template a case is pinned to, in the exact text it was opened with (an earlier
    version stays installed); refused if that text is not installed, changed or not."""
    template = installed_templates().get((template_id, version, content_hash))
    if template is None:
        raise TemplateError(
            Reason(
                "template_mismatch",
                N_(
                    "This case follows process template %(id)s version %(version)s, which is "
                    "not installed in that exact form."
                ),
                {"id": template_id, "version": version},
            )
        )
    return template
