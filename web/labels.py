"""Titles of the engine's codes (rules, formats, outcomes, a project's phases and activities,
languages ...) in the reader's language."""

from __future__ import annotations

import json
from typing import Any

from babel import Locale
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from fpic.i18n import N_, Reason
from fpic.workflow.permissions import ROLE_TITLES
from fpic.workflow.schema import Term, Text
from fpic.workflow.vocabulary import ACTIVITY_TITLES, PHASE_TITLES

RULE_LABELS = {
    "consensus": _l("Consensus"),
    "simple_majority": _l("Simple majority"),
    "qualified_majority": _l("Qualified majority"),
}
VOTER_LABELS = {
    "representatives": _l("A council of the mandated representatives"),
    "assembly": _l("An assembly of community members or households"),
}
FORMAT_LABELS = {
    "written": _l("Written"),
    "oral": _l("Oral"),
    "audio": _l("Audio"),
    "visual": _l("Visual"),
}
CATEGORY_LABELS = {
    "force_or_threat": _l("Force or threats"),
    "firearms": _l("Firearms in the community"),
    "bribery": _l("Bribery"),
    "gift_outside_budget": _l("Gifts or payments outside the agreed budget"),
    "secret_side_deal": _l("Secret deals with individuals"),
    "donation_to_influence": _l("Donations meant to influence"),
    "wining_and_dining": _l("Wining and dining"),
    "deliberate_delay": _l("Deliberate delay to divide the community"),
    "undue_influence": _l("Undue influence by third parties"),
    "criminalisation": _l("Threats or criminalisation of community members"),
}
GRIEVANCE_CATEGORY_LABELS = {
    "process_integrity": _l("Integrity of the process"),
    "impacts": _l("Impacts of the project"),
    "agreement_non_compliance": _l("The agreement is not kept"),
    "benefit_distribution": _l("Distribution of benefits"),
}
CHANNEL_LABELS = {
    "oral": _l("Oral"),
    "written": _l("Written"),
    "through_representative": _l("Through a community representative"),
    "meeting": _l("At a meeting"),
    "anonymous_box": _l("Anonymous box or line"),
}
STEP_LABELS = {
    "received": _l("received"),
    "acknowledged": _l("acknowledged"),
    "assessed": _l("assessed"),
    "responded": _l("answered"),
    "escalated": _l("with the mediator"),
    "closed": _l("closed"),
}
CONDITION_STATUS_LABELS = {
    "open": _l("open"),
    "in_progress": _l("in progress"),
    "met": _l("met"),
    "breached": _l("breached"),
}
SATISFACTION_LABELS = {
    "yes": _l("The complainant accepted the outcome"),
    "no": _l("The complainant did not accept the outcome"),
    "not_asked": _l("The complainant could not be asked"),
}
MEETING_LABELS = {
    "information": _l("Information meeting"),
    "discussion": _l("Discussion"),
    "deliberation": _l("Community deliberation"),
    "negotiation": _l("Negotiation"),
    "decision": _l("Decision assembly"),
    "validation": _l("Validation assembly"),
    "monitoring": _l("Monitoring review"),
}
GENDER_LABELS = {
    "woman": _l("Woman"),
    "man": _l("Man"),
    "other": _l("Other"),
    "unspecified": _l("Not stated"),
}
ASSURANCE_INSTRUMENT_LABELS = {
    "bond": _l("Bond"),
    "letter_of_credit": _l("Letter of credit"),
    "trust_fund": _l("Trust fund"),
    "insurance": _l("Insurance"),
    "cash_deposit": _l("Cash deposit"),
    "other": _l("Other"),
}
ENROLMENT_KIND_LABELS = {
    "enrolment": _l("New account"),
    "reset": _l("Reset (the old password ended)"),
}
OUTCOME_LABELS = {
    "CONSENT": _l("Consent"),
    "CONSENT_WITH_CONDITIONS": _l("Consent with conditions"),
    "PARTIAL": _l("Partial consent"),
    "WITHHELD": _l("Consent withheld"),
    "NO_BUT_CONTINUE_DIALOGUE": _l("No, but dialogue continues"),
    "DEFERRED_MORE_INFO": _l("Decision deferred (more information requested)"),
    "DECLINED_TO_ENGAGE": _l("Declined to engage"),
}


#: the titles of each vocabulary an action's fields draw their options from (fpic.workflow.schema)
RELATION_LABELS = {
    "overlaps": _l("overlaps"),
    "touches": _l("shares a boundary"),
    "near": _l("nearby"),
}
AREA_KIND_LABELS = {
    "territory": _l("Community territory"),
    "protected_area": _l("Protected area"),
    "critical_habitat": _l("Critical habitat"),
    "kba": _l("Key Biodiversity Area"),
}
SECTOR_LABELS = {
    "mining": _l("Mining"),
    "oil_and_gas": _l("Oil and gas"),
    "infrastructure": _l("Infrastructure"),
    "energy": _l("Energy"),
    "agriculture_forestry": _l("Agriculture and forestry"),
    "conservation": _l("Conservation"),
    "restoration": _l("Restoration of a legacy site"),
    "unspecified": _l("Not specified"),
}
TIME_UNIT_LABELS = {"days": _l("days"), "months": _l("months")}
RECONSENT_EVENT_LABELS = {
    "change_of_control": _l("Change of operator or owner"),
    "new_phase": _l("New phase of the project"),
    "area_expansion": _l("Expansion of the project's area"),
    "expiry": _l("End of the consent's term"),
}
BOND_KIND_LABELS = {"surety": _l("Surety bond"), "cash": _l("Cash bond")}
VOCABULARIES: dict[str, dict[str, Any]] = {
    "time_units": TIME_UNIT_LABELS,
    "reconsent_events": RECONSENT_EVENT_LABELS,
    "bond_kinds": BOND_KIND_LABELS,
    "decision_rules": RULE_LABELS,
    "voters": VOTER_LABELS,
    "formats": FORMAT_LABELS,
    "integrity_categories": CATEGORY_LABELS,
    "grievance_categories": GRIEVANCE_CATEGORY_LABELS,
    "grievance_channels": CHANNEL_LABELS,
    "meeting_kinds": MEETING_LABELS,
    "satisfaction": SATISFACTION_LABELS,
    "condition_progress": CONDITION_STATUS_LABELS,
    "assurance_instruments": ASSURANCE_INSTRUMENT_LABELS,
    "roles": ROLE_TITLES,
    "phases": PHASE_TITLES,
    "activities": ACTIVITY_TITLES,
}


def term_title(term: Term) -> str:
    """A vocabulary's code by its title in the reader's language (a language by its name, with
    its code beside it)."""
    if term.vocabulary == "languages":
        return language_name(term.value)
    table = VOCABULARIES.get(term.vocabulary, {})
    if term.value not in table:
        return term.value.replace("_", " ")
    title = table[term.value]
    return _(title) if isinstance(title, str) else str(title)


def text_of(label: Text | Term) -> str:
    """A label an action's declaration computed from the case, for the reader."""
    if isinstance(label, Term):
        return term_title(label)
    params = {k: text_of(v) if isinstance(v, (Text, Term)) else v for k, v in label.params.items()}
    message = _(label.message) if label.translate and label.message else label.message
    return message % params if params else message


def _label(table: dict[str, Any], code: str) -> str:
    return str(table[code]) if code in table else code


def rule_title(code: str) -> str:
    return _label(RULE_LABELS, code)


def voters_title(code: str) -> str:
    return _label(VOTER_LABELS, code)


def format_title(code: str) -> str:
    return _label(FORMAT_LABELS, code)


def category_title(code: str) -> str:
    return _label(CATEGORY_LABELS, code)


def grievance_category_title(code: str) -> str:
    return _label(GRIEVANCE_CATEGORY_LABELS, code)


def channel_title(code: str) -> str:
    return _label(CHANNEL_LABELS, code)


def step_title(code: str) -> str:
    return _label(STEP_LABELS, code)


def condition_status_title(code: str) -> str:
    return _label(CONDITION_STATUS_LABELS, code)


def meeting_title(code: str) -> str:
    return _label(MEETING_LABELS, code)


def enrolment_kind_title(code: str) -> str:
    return _label(ENROLMENT_KIND_LABELS, code)


def relation_title(code: str) -> str:
    return _label(RELATION_LABELS, code)


def area_kind_title(code: str) -> str:
    return _label(AREA_KIND_LABELS, code)


def sector_title(code: str) -> str:
    return _label(SECTOR_LABELS, code)


def outcome_title(code: str) -> str:
    return _label(OUTCOME_LABELS, code)


def phase_title(code: str) -> str:
    return term_title(Term("phases", code))


def activity_title(code: str) -> str:
    return term_title(Term("activities", code))


#: languages the Unicode CLDR (Babel's data) has no name for, in English: ISO 639-3 codes of
#: languages a community may ask to be informed in (the Philippines, Peru, Australia, Canada)
OTHER_LANGUAGE_NAMES = {
    "agr": N_("Awajún"),
    "aer": N_("Eastern Arrernte"),
    "ame": N_("Yanesha'"),
    "ayr": N_("Central Aymara"),
    "bkd": N_("Binukid"),
    "cni": N_("Asháninka"),
    "gup": N_("Gunwinggu"),
    "ibl": N_("Ibaloi"),
    "ifb": N_("Batad Ifugao"),
    "ifk": N_("Tuwali Ifugao"),
    "ifu": N_("Mayoyao Ifugao"),
    "ike": N_("Eastern Canadian Inuktitut"),
    "kne": N_("Kankanaey"),
    "mbt": N_("Matigsalug Manobo"),
    "msm": N_("Agusan Manobo"),
    "pjt": N_("Pitjantjatjara"),
    "qub": N_("Huallaga Huánuco Quechua"),
    "quy": N_("Ayacucho Quechua"),
    "quz": N_("Cusco Quechua"),
    "shp": N_("Shipibo-Conibo"),
    "tbw": N_("Tagbanwa"),
}


def language_name(code: str) -> str:
    """A content language's name in the reader's language with its code beside it, since the
    code is what a form asks for: ``qu`` → "Quechua (qu)", "quechua (qu)" in Spanish,
    ``es-PE`` → "Spanish (Peru, es-PE)"; a code nobody has a name for stays as it is."""
    name, region = _language_and_region(code)
    if name is None:
        return code
    return f"{name} ({region}, {code})" if region else f"{name} ({code})"


def _language_and_region(code: str) -> tuple[str | None, str | None]:
    """A language tag's language and region names in the reader's language, from the Unicode
    CLDR through Babel (ISO 639-1 and many ISO 639-3 codes), else from OTHER_LANGUAGE_NAMES."""
    reader = _reader_locale()
    tag = code.strip().replace("-", "_")
    if tag in reader.languages:  # CLDR names some regional forms itself (pt_BR, es_419)
        return reader.languages[tag], None
    base, _sep, rest = tag.partition("_")
    base = base.lower()
    name = reader.languages.get(base)
    if name is None and base in OTHER_LANGUAGE_NAMES:
        name = _(OTHER_LANGUAGE_NAMES[base])
    region = rest.split("_")[-1].upper() if rest else ""
    return name, reader.territories.get(region) if region else None


def _reader_locale() -> Locale:
    return get_locale() or Locale.parse("en")


def event_reasons(event: Any) -> list[Reason]:
    """The reasons a refused trail event carries, ready to translate."""
    try:
        data = json.loads(event.data)
    except (TypeError, ValueError):
        return []
    return [Reason.from_data(r) for r in data.get("reasons", []) if isinstance(r, dict)]


GLOBALS = {
    "rule_title": rule_title,
    "voters_title": voters_title,
    "format_title": format_title,
    "category_title": category_title,
    "meeting_title": meeting_title,
    "grievance_category_title": grievance_category_title,
    "channel_title": channel_title,
    "step_title": step_title,
    "condition_status_title": condition_status_title,
    "outcome_title": outcome_title,
    "enrolment_kind_title": enrolment_kind_title,
    "event_reasons": event_reasons,
    "relation_title": relation_title,
    "area_kind_title": area_kind_title,
    "sector_title": sector_title,
    "phase_title": phase_title,
    "activity_title": activity_title,
}
