"""Demo plans for the national templates, beside the general one in fpic.demo.seed."""

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

PLANS = [Plan("ncip-ao3-2012", NCIP_MAIN, NCIP_BRANCHES, ("tuwali-hungduan",))]
