"""Demo plans for the other shipped templates, beside the general one in fpic.demo.seed."""

from __future__ import annotations

from fpic.demo.seed import DISCLOSE, FLAG_UPHELD, MONTHS, WAIT, Plan
from fpic.workflow.process import shipped_templates

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
    "post_bond",
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

# Peru, Ley 29785: the State consults the Ayllu Qollana on the mining concession (demo).
PERU_MAIN = [
    "identify_measure",
    "confirm_peoples",
    "agree_consultation_plan",
    "deliver_proposed_measure",
    DISCLOSE,
    "close_information",
    WAIT,
    "deliver_evaluation_result",
    "record_total_agreement",
    "sign_acta",
    "decide_with_agreement",
    "close_case",
]
_NO_AGREEMENT = ["record_no_agreement", "sign_acta_no_agreement"]
PERU_BRANCHES: dict[str, tuple[str, list[str]]] = {
    "no_consultation": ("identify_measure", ["find_no_direct_effect"]),
    "suspended": ("dialogue", ["suspend_process"]),
    "acta_no_agreement": ("dialogue", _NO_AGREEMENT[:1]),
    "decision_no_agreement": ("dialogue", _NO_AGREEMENT),
    "decided_without_agreement": ("dialogue", [*_NO_AGREEMENT, "decide_without_agreement"]),
    "measure_not_adopted": ("dialogue", [*_NO_AGREEMENT, "decide_not_to_adopt"]),
    "withdrawn": ("implementation", ["withdraw_consent"]),
    "invalidated": ("internal_evaluation", [FLAG_UPHELD, "invalidate_process"]),
    "abandoned": ("preparatory", ["abandon"]),
}

# IFC PS7: the lithium pilot, financed by a lender applying the Performance Standards (demo).
IFC_MAIN = [
    "require_fpic",
    "confirm_engagement_plan",
    "agree_protocol",
    "record_external_experts",
    DISCLOSE,
    "complete_disclosure",
    WAIT,
    "open_negotiation",
    "convene_decision",
    "give_consent_with_conditions",
    "sign_agreement",
    "adopt_plan",
    "confirm_rehabilitation",
    "close_case",
]
IFC_BRANCHES: dict[str, tuple[str, list[str]]] = {
    "suspended": ("negotiation", ["suspend_process"]),
    "withheld": ("decision", ["withhold_consent"]),
    "not_proceeding": ("decision", ["withhold_consent", "record_relocation_not_consented"]),
    "withdrawn": ("implementation", ["withdraw_consent"]),
    "invalidated": ("negotiation", [FLAG_UPHELD, "invalidate_process"]),
    "abandoned": ("process_agreement", ["abandon"]),
}
# informed consultation where no PS7 ¶13-17 circumstance applies: a survey far from their lands
IFC_ICP_MAIN = ["route_icp_only", "agree_consultation_process", DISCLOSE, "document_icp",
                "adopt_icp_plan"]  # fmt: skip

# Native Title Act: a mining lease over the Warlu Pilanyi claim group's country (demo).
NTA_MAIN = [
    "give_s29_notice",
    "agree_protocol",
    DISCLOSE,
    "complete_disclosure",
    WAIT,
    "convene_decision",
    "give_consent_with_conditions",
    "sign_s31_agreement",
    "confirm_rehabilitation",
    "close_case",
]
_ARBITRATION = [f"{MONTHS}7", "apply_for_determination"]
NTA_BRANCHES: dict[str, tuple[str, list[str]]] = {
    "ilua_covered": ("proposed_act", ["record_ilua_coverage"]),
    "expedited_window": ("proposed_act", ["give_s29_notice_expedited"]),
    "expedited_inquiry": (
        "proposed_act",
        ["give_s29_notice_expedited", "object_to_expedited_procedure"],
    ),
    "expedited_cleared": (
        "proposed_act",
        ["give_s29_notice_expedited", f"{MONTHS}5", "record_no_objection"],
    ),
    "suspended": ("negotiation", ["suspend_process"]),
    "withheld": ("decision", ["withhold_consent"]),
    "arbitral_inquiry": ("negotiation", _ARBITRATION),
    "act_must_not_be_done": ("negotiation", [*_ARBITRATION, "determine_act_must_not_be_done"]),
    "act_may_be_done": ("negotiation", [*_ARBITRATION, "determine_act_may_be_done"]),
    "overruled": (
        "negotiation",
        [*_ARBITRATION, "determine_act_must_not_be_done", "overrule_determination"],
    ),
    "withdrawn": ("agreement_in_force", ["withdraw_consent"]),
    "invalidated": ("deliberation", [FLAG_UPHELD, "invalidate_process"]),
    "abandoned": ("notified", ["abandon"]),
}

_TEMPLATES = shipped_templates()
_ICP = ("icp_consultation", "icp_plan", "icp_implementation")
PLANS = [
    Plan("pe-consulta-previa-2012", PERU_MAIN, PERU_BRANCHES, ("ayllu-qollana",)),
    Plan(
        "ifc-ps7-2012",
        IFC_MAIN,
        IFC_BRANCHES,
        ("uma-jaqi",),
        stages=tuple(s for s in _TEMPLATES["ifc-ps7-2012"].stages if s not in _ICP),
    ),
    Plan(
        "ifc-ps7-2012",
        IFC_ICP_MAIN,
        {},
        ("uma-jaqi",),
        project="lithium-south",
        stages=_ICP,
    ),
    Plan("au-nta-right-to-negotiate", NTA_MAIN, NTA_BRANCHES, ("warlu-pilanyi",)),
    Plan("ncip-ao3-2012", NCIP_MAIN, NCIP_BRANCHES, ("tuwali-hungduan",)),
    Plan(
        "legacy-restoration",
        RESTORATION_MAIN,
        RESTORATION_BRANCHES,
        ("vunamami",),
        project="restoration",
    ),
]
