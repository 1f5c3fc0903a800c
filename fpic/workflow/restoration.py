"""Restoring a legacy mine site: the financial assurance behind the works, and the rules that
hold the works and the closure of the case to it (the legacy-restoration template).

ICMM's Mining Principles (2020) ask, under principle 6, that closure be planned with the
people concerned and that financial provision be made so that the agreed closure and
post-closure commitments are realised; ICMM's Integrated Mine Closure guide (2019, ch. 12)
rests that provision on an estimate of the closure costs. So a restoration case records who
provides the assurance, in what instrument, how much and in which currency, what it covers,
until when, and the independent estimate behind it; and no works start, no post-closure
monitoring begins and no case closes unless such an assurance is in force that day.

The assurance is a note on the case (:func:`fpic.workflow.effects.record_note`), of its own
kind: a new record replaces the one before it (a renewal, a top-up), and the latest one is the
one in force. Its actions are gathered with the others in :mod:`fpic.workflow.actions`, which
imports this module and so registers its rules in :data:`fpic.workflow.guards.GUARDS`.
"""

from __future__ import annotations

import re
from datetime import date
from functools import cache
from typing import Any

from babel.core import get_global
from babel.numbers import get_territory_currencies
from sqlalchemy import select

from fpic.i18n import N_, Reason
from fpic.storage.models import CaseNote
from fpic.workflow.effects import record_note
from fpic.workflow.errors import invalid
from fpic.workflow.evidence import evidence_fields
from fpic.workflow.guards import GuardContext, consent_in_force, guard
from fpic.workflow.schema import Action, Field, Payload

#: the kind of the case note an assurance is recorded as, whatever the trigger is called
ASSURANCE_NOTE = "financial_assurance"
INSTRUMENTS = ("bond", "letter_of_credit", "trust_fund", "insurance", "cash_deposit", "other")
#: the largest amount a form or a client can send, in whole units of the currency
MAX_AMOUNT = 10**12
_CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")


@cache
def currencies_in_use(day: date) -> frozenset[str]:
    """ISO 4217 codes of the currencies that are legal tender somewhere on ``day``, from the
    Unicode CLDR data Babel ships (a withdrawn code, such as HRK, no longer counts)."""
    territories = get_global("territory_currencies")
    return frozenset(
        code
        for territory in territories
        for code in get_territory_currencies(territory, start_date=day, tender=True)
    )


# --- the action ----------------------------------------------------------------------------


def check_financial_assurance(p: Payload, ctx: GuardContext) -> None:
    code = p["currency"].upper()
    if not _CURRENCY_CODE.match(code) or code not in currencies_in_use(ctx.today):
        raise invalid(
            "currency",
            N_(
                "%(field)s must be the ISO 4217 code of a currency in use, such as PGK, USD or AUD."
            ),
        )
    p["currency"] = code
    if p["instrument"] == "other" and not p["instrument_other"]:
        raise invalid("instrument_other", N_("%(field)s is required when the instrument is other."))
    if date.fromisoformat(p["valid_until"]) < ctx.today:
        raise invalid(
            "valid_until",
            N_("%(field)s cannot be in the past: an assurance that has run out secures nothing."),
        )


def write_financial_assurance(ctx: GuardContext, p: Payload, _from: str) -> dict[str, Any]:
    return record_note(ctx, ASSURANCE_NOTE, p)


FINANCIAL_ASSURANCE = Action(
    "financial_assurance",
    (
        Field(
            "provider", "short", N_("Provided by"),
            hint=N_(
                "Who stands behind the assurance: the party responsible for the works, its "
                "guarantor, a fund or the State."
            ),
        ),
        Field(
            "instrument", "choice", N_("Instrument"),
            options=INSTRUMENTS, vocabulary="assurance_instruments",
        ),
        Field(
            "instrument_other", "short", N_("Which other instrument"), required=False,
            when=("instrument", ("other",)),
        ),
        Field(
            "amount", "integer", N_("Amount"),
            hint=N_("In whole units of the currency, e.g. 4800000."),
            minimum=1, maximum=MAX_AMOUNT,
        ),
        Field("currency", "short", N_("Currency (ISO 4217 code, e.g. PGK, USD, AUD)")),
        Field(
            "covers", "text", N_("What it covers"),
            hint=N_(
                "The works, the post-closure monitoring and care, and what it pays for if the "
                "party responsible fails."
            ),
        ),
        Field("valid_until", "day", N_("Valid until")),
        Field(
            "estimate", "text", N_("The independent estimate it is based on"),
            hint=N_(
                "Who estimated the cost of the works and of post-closure care, when, and how "
                "much."
            ),
        ),
        Field("text", "text", N_("Remarks (optional)"), required=False),
        Field(
            "language", "language", N_("Language of the remarks (code, optional)"),
            required=False,
        ),
        *evidence_fields(
            N_("The instrument (bond, letter of credit, trust deed, policy) and the estimate")
        ),
    ),
    write_financial_assurance,
    check=check_financial_assurance,
)  # fmt: skip


# --- the rules -----------------------------------------------------------------------------


def latest_assurance(ctx: GuardContext) -> dict[str, Any] | None:
    """The data of the case's latest financial assurance, in force or not."""
    data = ctx.session.scalar(
        select(CaseNote.data)
        .where(CaseNote.case_id == ctx.case.id, CaseNote.kind == ASSURANCE_NOTE)
        .order_by(CaseNote.id.desc())
        .limit(1)
    )
    return dict(data) if data else None


@guard()
def financial_assurance_in_force(ctx: GuardContext) -> list[Reason]:
    """No restoration works, no post-closure monitoring and no closure without a financial
    assurance valid that day: the agreed closure and post-closure commitments must be paid for
    even if the party responsible fails (ICMM Mining Principles, principle 6)."""
    latest = latest_assurance(ctx)
    if latest is None:
        return [
            Reason(
                "no_financial_assurance",
                N_("No financial assurance is recorded for the restoration of the site."),
            )
        ]
    if date.fromisoformat(latest["valid_until"]) < ctx.today:
        return [
            Reason(
                "financial_assurance_expired",
                N_("The financial assurance ran out on %(day)s; record a renewed one."),
                {"day": latest["valid_until"]},
            )
        ]
    return []


@guard()
def conditions_met(ctx: GuardContext) -> list[Reason]:
    """A case closes only once every condition of the consent in force is met: the site is
    restored as agreed, not only as planned (domain.md §5, the conditions register)."""
    consent = consent_in_force(ctx.template, ctx.case)
    if consent is None:
        return [
            Reason(
                "no_consent_in_force", N_("No consent of the community is in force for this case.")
            )
        ]
    unmet = [c for c in consent.conditions if c.status != "met"]
    if not unmet:
        return []
    return [
        Reason(
            "conditions_not_met",
            N_("%(count)s condition(s) of the community's consent are not yet met."),
            {"count": len(unmet)},
        )
    ]


#: the restoration's actions (fpic.workflow.actions gathers them with the others)
ACTIONS: tuple[Action, ...] = (FINANCIAL_ASSURANCE,)
