"""What States and other authorities record on a case under a regime that gives them a part:
a formal notice that starts the regime's clocks, a reasoned decision or determination of their
own, a certificate that no ancestral domain is affected, and the bond an applicant posts.

None of these is the community's decision: only the community's own representatives record
that (fpic.workflow.effects, DECISION), and nothing here puts a consent in force.
"""

from __future__ import annotations

from typing import Any

from fpic.i18n import N_
from fpic.workflow.effects import on_today, record_note
from fpic.workflow.errors import invalid
from fpic.workflow.evidence import evidence_fields
from fpic.workflow.guards import GuardContext
from fpic.workflow.schema import Action, Field, Payload

BOND_KINDS = ("surety", "cash")


def write_authority_record(ctx: GuardContext, p: Payload, _from: str) -> dict[str, Any]:
    return record_note(ctx, ctx.trigger.name, p)


#: a notice under a statute (NTA s 29) or the delivery of a proposed measure (Ley 29785): the
#: day it names, not the day it is typed in, starts the regime's clocks
NOTICE = Action(
    "notice",
    (
        Field(
            "notified_on", "day", N_("Notification day"),
            hint=N_("The day the notice specifies; the regime's time limits count from it."),
            default=on_today,
        ),
        Field("text", "text", N_("What the notice says, and to whom it was given")),
        Field("language", "language", N_("Language (code, optional)"), required=False),
        *evidence_fields(N_("The notice as given or published")),
    ),
    write_authority_record,
    dated_by="notified_on",
)  # fmt: skip


#: a State's reasoned decision (Ley 29785 art. 15), an arbitral body's determination (NTA s 38)
#: or a Minister's declaration (NTA s 42): recorded as theirs, never as the community's consent
STATE_DECISION = Action(
    "state_decision",
    (
        Field("decided_on", "day", N_("Decided on"), past=True, default=on_today),
        Field("body", "short", N_("Body that decided")),
        Field("determination", "text", N_("What was decided")),
        Field("reasons", "text", N_("Reasons given")),
        Field(
            "rights_measures", "text",
            N_("Measures to guarantee the collective rights of the peoples concerned"),
            required=False,
        ),
        Field("language", "language", N_("Language (code, optional)"), required=False),
        *evidence_fields(N_("The decision or determination, as issued")),
    ),
    write_authority_record,
    dated_by="decided_on",
)  # fmt: skip


def check_non_overlap(p: Payload, _ctx: GuardContext) -> None:
    if not p["undertaking"]:
        raise invalid(
            "undertaking",
            N_(
                "%(field)s is required: the applicant undertakes to seek the community's consent "
                "if an overlap with an ancestral domain is found later (NCIP AO 3 §15)."
            ),
        )


#: NCIP AO 3 (2012) §15: the Regional Director issues it with the concurrence of the
#: Commissioner concerned, on the applicant's undertaking
NON_OVERLAP = Action(
    "non_overlap",
    (
        Field("issued_on", "day", N_("Issued on"), past=True, default=on_today),
        Field("concurrence", "short", N_("Concurrence of the Commissioner concerned")),
        Field(
            "undertaking", "flag",
            N_("The applicant undertakes to seek FPIC if an overlap is found later"),
        ),
        Field("text", "text", N_("Findings of the field-based investigation")),
        *evidence_fields(N_("The Certificate of Non-Overlap")),
    ),
    write_authority_record,
    check=check_non_overlap,
    dated_by="issued_on",
)  # fmt: skip


#: NCIP AO 3 (2012) §23: posted after the written resolution of consent, before any activity;
#: its kind and amount are those the memorandum of agreement sets
BOND = Action(
    "bond",
    (
        Field("kind", "choice", N_("Kind of bond"), options=BOND_KINDS, vocabulary="bond_kinds"),
        Field("amount", "short", N_("Amount and currency")),
        Field("posted_on", "day", N_("Posted on"), past=True, default=on_today),
        Field("text", "text", N_("Terms of the bond, as the agreement sets them")),
        *evidence_fields(N_("The bond or the receipt of the cash deposit")),
    ),
    write_authority_record,
    dated_by="posted_on",
)  # fmt: skip

ACTIONS: tuple[Action, ...] = (NOTICE, STATE_DECISION, NON_OVERLAP, BOND)
