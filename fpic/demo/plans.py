"""Demo plans for the other shipped templates, beside the general one in fpic.demo.seed."""

from __future__ import annotations

from fpic.demo.seed import DISCLOSE, FLAG_UPHELD, WAIT, Plan

# NCIP AO3 (2012): the Tuwali community of Hungduan and a mini-hydro plant near its terraces.
NCIP_MAIN = [
    "hold_pre_fbi_conference",
    "require_fpic",
    "hold_pre_fpic_conference",
    "agree_protocol",
    DISCLOSE,
    "complete_disclosure",
    WAIT,
    "convene_decision_meeting",
    "give_consent_with_conditions",
    "draft_moa",
    "sign_moa",
    "record_certification_precondition",
    "confirm_rehabilitation",
    "close_case",
]
NCIP_BRANCHES: dict[str, tuple[str, list[str]]] = {
    "non_overlap": ("field_investigation", ["issue_non_overlap"]),
    "suspended": ("consensus_building", ["suspend_process"]),
    "non_consent": ("decision_meeting", ["withhold_consent"]),
    "withdrawn": ("implementation", ["withdraw_consent"]),
    "invalidated": ("consensus_building", [FLAG_UPHELD, "invalidate_process"]),
    "abandoned": ("first_assembly", ["abandon"]),
}

# Restoring a legacy site: an abandoned alluvial gold working near the Vunamami clans (fabricated
# demo data, PROJECTS["restoration"] in fpic.demo.seed).
RESTORATION_MAIN = [
    "confirm_rights_holders",
    "agree_protocol",
    DISCLOSE,
    "complete_disclosure",
    WAIT,
    "convene_decision",
    "give_consent_with_conditions",
    "record_financial_assurance",
    "start_works",
    "record_monitoring_report",
    "complete_works",
    "report_condition_progress",
    "report_condition_progress",
    "confirm_rehabilitation",
    "close_case",
]
RESTORATION_BRANCHES: dict[str, tuple[str, list[str]]] = {
    "suspended": ("deliberation", ["suspend_process"]),
    "withheld": ("decision", ["withhold_consent"]),
    "withdrawn": ("works", ["withdraw_consent"]),
    "invalidated": ("deliberation", [FLAG_UPHELD, "invalidate_process"]),
    "abandoned": ("protocol", ["abandon"]),
}

PLANS = [
    Plan("ncip-ao3-2012", NCIP_MAIN, NCIP_BRANCHES, ("tuwali-hungduan",)),
    Plan(
        "legacy-restoration",
        RESTORATION_MAIN,
        RESTORATION_BRANCHES,
        ("vunamami",),
        project="restoration",
    ),
]
