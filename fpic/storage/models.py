"""SQLAlchemy models: who takes part, what was disclosed and decided, and the trail.

Lists of short codes (languages, formats, activities) are JSON columns: they are read and
written whole with their owner and never queried by element.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.orm import Mapped, column_property, mapped_column, relationship
from sqlalchemy.sql import text

from fpic.storage.db import Base, UTCDateTime

#: the roles an account may hold: the column's vocabulary (a CHECK constraint). Who may do
#: what with each is decided only in fpic.workflow.permissions.
ROLES = (
    "liaison",
    "representative",
    "auditor",
    "admin",
    "facilitator",
    "mediator",
    "state_authority",
)
#: why a one-time code was issued: a new account, or a reset that ended the old password
ENROLMENT_KINDS = ("enrolment", "reset")
DECISION_RULES = ("consensus", "simple_majority", "qualified_majority")
#: who votes: the council of mandated representatives, or an assembly of members or households
VOTERS = ("representatives", "assembly")
FORMATS = ("written", "oral", "audio", "visual")
#: what a project does; "unspecified" is treated as extractive by the World Heritage rule
SECTORS = (
    "mining",
    "oil_and_gas",
    "infrastructure",
    "energy",
    "agriculture_forestry",
    "conservation",
    "restoration",
    "unspecified",
)
#: the reference datasets a project is screened against (fpic.geo.reference)
AREA_KINDS = ("protected_area", "critical_habitat", "kba")
#: the IUCN Protected Area Management Categories, and WDPA's values for an area without one
IUCN_CATEGORIES = (
    "Ia", "Ib", "II", "III", "IV", "V", "VI", "Not Reported", "Not Applicable", "Not Assigned",
)  # fmt: skip
OUTCOMES = (
    "CONSENT",
    "CONSENT_WITH_CONDITIONS",
    "PARTIAL",
    "WITHHELD",
    "NO_BUT_CONTINUE_DIALOGUE",
    "DEFERRED_MORE_INFO",
    "DECLINED_TO_ENGAGE",
)
CONSENTING_OUTCOMES = ("CONSENT", "CONSENT_WITH_CONDITIONS", "PARTIAL")
INTEGRITY_CATEGORIES = (
    "force_or_threat",
    "firearms",
    "bribery",
    "gift_outside_budget",
    "secret_side_deal",
    "donation_to_influence",
    "wining_and_dining",
    "deliberate_delay",
    "undue_influence",
    "criminalisation",
)
#: domain.md §6; a process-integrity grievance blocks the decision and can invalidate consent
GRIEVANCE_CATEGORIES = (
    "process_integrity",
    "impacts",
    "agreement_non_compliance",
    "benefit_distribution",
)
GRIEVANCE_CHANNELS = ("oral", "written", "through_representative", "meeting", "anonymous_box")
#: a grievance's steps, in order; "escalated" is a detour to an independent mediator
GRIEVANCE_STEPS = ("received", "acknowledged", "assessed", "responded", "escalated", "closed")


class Community(Base):
    __tablename__ = "communities"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    region: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))  #: ISO 3166-1 alpha-2
    #: the community's own institution that appoints representatives and decides
    institution: Mapped[str] = mapped_column(String(300))
    #: ISO 639 codes of the languages the community asks information in
    content_languages: Mapped[list[str]] = mapped_column(JSON, default=list)

    representatives: Mapped[list[Representative]] = relationship(back_populates="community")


class Representative(Base):
    __tablename__ = "representatives"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    gender: Mapped[str] = mapped_column(String(20), default="unspecified")

    community: Mapped[Community] = relationship(back_populates="representatives")
    mandates: Mapped[list[Mandate]] = relationship(
        back_populates="representative", order_by="Mandate.valid_from"
    )

    def mandate_on(self, day: date) -> Mandate | None:
        """The mandate in force on ``day``, if any (valid on both its end dates)."""
        for mandate in self.mandates:
            if mandate.in_force_on(day):
                return mandate
        return None


class Mandate(Base):
    """A time-bounded, evidenced appointment by the community's institution (EMRIP18 ¶23).

    It comes from the community's own act (a resolution of its institution), is recorded and
    confirmed only by people the proponent does not employ, and is in force only once
    confirmed; the community ends it by a new resolution with effect from a date.
    """

    __tablename__ = "mandates"
    __table_args__ = (CheckConstraint("valid_from <= valid_until", name="period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    representative_id: Mapped[int] = mapped_column(ForeignKey("representatives.id"), index=True)
    #: the community's institution that passed the resolution
    granted_by: Mapped[str] = mapped_column(String(300))
    #: where the resolution is minuted (minute book, page, resolution number)
    evidence: Mapped[str] = mapped_column(Text)
    #: the day the institution passed the resolution
    resolved_on: Mapped[date | None] = mapped_column(Date, default=None)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    #: said of a confirmation that was not an independent person's act (see migration 0005)
    confirmation_note: Mapped[str | None] = mapped_column(Text, default=None)
    #: the mandate ends on this day (it is not in force from it on)
    revoked_on: Mapped[date | None] = mapped_column(Date, default=None)
    #: the community's resolution that ended the mandate, and where it is minuted
    revocation: Mapped[str | None] = mapped_column(Text, default=None)
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)

    representative: Mapped[Representative] = relationship(back_populates="mandates")
    recorded_by: Mapped[User | None] = relationship(foreign_keys=[recorded_by_id])
    confirmed_by: Mapped[User | None] = relationship(foreign_keys=[confirmed_by_id])
    revoked_by: Mapped[User | None] = relationship(foreign_keys=[revoked_by_id])

    def in_force_on(self, day: date) -> bool:
        """Confirmed, within its period, and not ended by the community before ``day``."""
        return (
            self.confirmed_at is not None
            and self.valid_from <= day <= self.valid_until
            and (self.revoked_on is None or day < self.revoked_on)
        )

    @property
    def status(self) -> str:
        if self.revoked_on is not None:
            return "revoked"
        return "confirmed" if self.confirmed_at is not None else "pending"


class User(Base):
    """One account per person. Nobody sets another person's password: the holder chooses it
    with a one-time enrolment code (see :class:`Enrolment`)."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(f"role IN {ROLES!r}", name="role"),
        CheckConstraint(
            "(role = 'representative') = (representative_id IS NOT NULL)", name="rep_link"
        ),
        #: one active account per registered representative (a second one is refused in
        #: fpic.accounts.registry too; migration 0005 disabled the extra accounts that existed)
        Index(
            "uq_users_active_representative",
            "representative_id",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    representative_id: Mapped[int | None] = mapped_column(
        ForeignKey("representatives.id"), default=None
    )
    locale: Mapped[str | None] = mapped_column(String(10), default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: where notifications go (fpic.notify); None: the person gets none
    email: Mapped[str | None] = mapped_column(String(254), default=None)
    #: an IANA time zone ("America/Lima") every date and time is shown in; None: the
    #: installation's default, UTC
    time_zone: Mapped[str | None] = mapped_column(String(64), default=None)
    #: whether the person wants e-mail notifications at all (their turn, deadlines)
    notify: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")

    representative: Mapped[Representative | None] = relationship()


class Enrolment(Base):
    """A one-time code with which a person chooses their own password (at enrolment or after
    a reset). Only a SHA-256 of the code is kept; it expires after seven days."""

    __tablename__ = "enrolments"
    __table_args__ = (CheckConstraint(f"kind IN {ENROLMENT_KINDS!r}", name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    #: a newer code for the same account replaced this one before it was used
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    issued_by: Mapped[User | None] = relationship(foreign_keys=[issued_by_id])


class UserSession(Base):
    """A signed-in session, kept on the server so sign-out and disabling really end it.

    Only a SHA-256 of the token is stored: a copy of the database does not let anyone in.
    """

    __tablename__ = "user_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    user: Mapped[User] = relationship()


#: what a personal API token may do: read what its holder may read, or act as well
TOKEN_SCOPES = ("read", "act")


class ApiToken(Base):
    """A personal API token: its holder's standing, no more, for a bounded time.

    Only a SHA-256 of the secret is stored (the secret has 256 random bits, so a plain hash
    is enough: nobody can guess their way back from it); the secret is shown once.
    """

    __tablename__ = "api_tokens"
    __table_args__ = (CheckConstraint(f"scope IN {TOKEN_SCOPES!r}", name="scope"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    scope: Mapped[str] = mapped_column(String(10))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    user: Mapped[User] = relationship()


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    proponent: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    phases: Mapped[list[str]] = mapped_column(JSON, default=list)
    activities: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: "prior" means before design freeze and permit application (EMRIP18 ¶21)
    design_freeze_on: Mapped[date | None] = mapped_column(Date, default=None)
    permit_applied_on: Mapped[date | None] = mapped_column(Date, default=None)
    #: what kind of project it is (SECTORS): the World Heritage rule stops extractive ones
    sector: Mapped[str] = mapped_column(
        String(20), default="unspecified", server_default="unspecified"
    )
    #: the legacy mine site a restoration project restores
    legacy_site_id: Mapped[int | None] = mapped_column(
        ForeignKey("legacy_sites.id"), index=True, default=None
    )


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_stage", "stage"),
        #: the case list's order (latest change first), read from the index a page at a time
        Index("ix_cases_updated_at", "updated_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    template_id: Mapped[str] = mapped_column(String(80))
    template_version: Mapped[str] = mapped_column(String(20))
    template_hash: Mapped[str] = mapped_column(String(64))
    stage: Mapped[str] = mapped_column(String(60))
    #: bumped by every action; callers pass the version they saw (optimistic check)
    version: Mapped[int] = mapped_column(Integer, default=1)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: when the case entered its current stage: stage deadlines run from here
    stage_entered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: when disclosure was declared complete: the deliberation clock runs from here
    deliberation_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    #: the stage to go back to when the community resumes a suspended process
    suspended_from: Mapped[str | None] = mapped_column(String(60), default=None)
    withheld_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    reconsideration_requested_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), default=None
    )
    state_approved_without_agreement: Mapped[bool] = mapped_column(Boolean, default=False)
    #: the last joint monitoring review: the next one is due review_every_days later
    last_review_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    #: the community confirmed the agreed rehabilitation of the site: only then can it close
    rehabilitation_confirmed_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), default=None
    )
    #: the independent facilitator and grievance mediator of this case: proposed while nobody
    #: holds the community's mandate, then agreed by the community (in its protocol)
    facilitator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    mediator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    #: the case's latest screening (fpic.geo.screening.Screening.summary): every screening is
    #: on the trail; this copy lets the rules read it with the case, at no extra statement
    screening: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    #: the day of each action a time limit counts from or a rule waits for, by trigger
    #: (fpic.workflow.limits): read with the case, at no extra statement
    milestones: Mapped[dict[str, str]] = mapped_column(
        JSON, default=dict, server_default=text("'{}'")
    )
    if TYPE_CHECKING:  # mapped at the end of this module, once ProjectArea and Protocol exist
        current_area_id: int | None
        signs_decisions: bool | None

    project: Mapped[Project] = relationship()
    community: Mapped[Community] = relationship()
    facilitator: Mapped[User | None] = relationship(foreign_keys=[facilitator_id])
    mediator: Mapped[User | None] = relationship(foreign_keys=[mediator_id])
    protocol: Mapped[Protocol | None] = relationship(back_populates="case", uselist=False)
    disclosures: Mapped[list[Disclosure]] = relationship(
        back_populates="case", order_by="Disclosure.id"
    )
    meetings: Mapped[list[Meeting]] = relationship(order_by="Meeting.id")
    questions: Mapped[list[Question]] = relationship(order_by="Question.id")
    integrity_flags: Mapped[list[IntegrityFlag]] = relationship(order_by="IntegrityFlag.id")
    grievances: Mapped[list[Grievance]] = relationship(order_by="Grievance.id")
    decisions: Mapped[list[Decision]] = relationship(back_populates="case", order_by="Decision.id")
    activities: Mapped[list[ActivityRecord]] = relationship(order_by="ActivityRecord.id")
    notes: Mapped[list[CaseNote]] = relationship(order_by="CaseNote.id")


class Protocol(Base):
    """The process the community agreed for this case (PS7 ¶12; EMRIP18 ¶42)."""

    __tablename__ = "protocols"
    __table_args__ = (
        CheckConstraint(f"decision_rule IN {DECISION_RULES!r}", name="rule"),
        CheckConstraint("quorum_percent BETWEEN 0 AND 100", name="quorum"),
        CheckConstraint("min_deliberation_days >= 0", name="deliberation"),
        CheckConstraint(f"voters IN {VOTERS!r}", name="voters"),
        CheckConstraint("eligible_voters >= 1", name="eligible_voters"),
        # an assembly's quorum and tally are counted over a number the protocol states
        CheckConstraint(
            "voters = 'representatives' OR "
            "(eligible_voters IS NOT NULL AND eligible_voters_source IS NOT NULL)",
            name="assembly_counted",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    deciding_body: Mapped[str] = mapped_column(String(300))
    decision_rule: Mapped[str] = mapped_column(String(30))
    #: for a qualified majority only: the share of the votes cast needed for consent
    majority_percent: Mapped[int | None] = mapped_column(Integer, default=None)
    #: of those entitled to vote (the mandated representatives, or ``eligible_voters``)
    quorum_percent: Mapped[int] = mapped_column(Integer)
    voters: Mapped[str] = mapped_column(String(20), default="representatives")
    #: for an assembly: how many members or households are entitled to vote, and where that
    #: number comes from (the protocol's clause, the census); a council counts its mandates
    eligible_voters: Mapped[int | None] = mapped_column(Integer, default=None)
    eligible_voters_source: Mapped[str | None] = mapped_column(Text, default=None)
    #: whether abstentions count as votes cast (they then weigh like votes against)
    abstentions_count: Mapped[bool] = mapped_column(Boolean, default=False)
    min_deliberation_days: Mapped[int] = mapped_column(Integer)
    content_languages: Mapped[list[str]] = mapped_column(JSON)
    formats: Mapped[list[str]] = mapped_column(JSON)
    grievance_route: Mapped[str] = mapped_column(Text)
    #: how often the joint monitoring reviews are due once consent is in force
    review_every_days: Mapped[int] = mapped_column(Integer, default=90)
    #: the numbers the community agreed for the template's protocol time limits, by limit name
    time_limits: Mapped[dict[str, int]] = mapped_column(
        JSON, default=dict, server_default=text("'{}'")
    )
    #: where the parameters come from: the assembly resolution, minutes, the community protocol
    source: Mapped[str] = mapped_column(Text)
    #: the representatives sign the community's decisions with their own passkey (WebAuthn):
    #: the engine records a decision, a withdrawal or a new protocol only with a signature
    #: (fpic.workflow.signing)
    signed_decisions: Mapped[bool] = mapped_column(Boolean, default=False)
    agreed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    agreed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))

    case: Mapped[Case] = relationship(back_populates="protocol")


class Disclosure(Base):
    """One item of the information package in one language and one format (EMRIP18 ¶22)."""

    __tablename__ = "disclosures"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    item: Mapped[str] = mapped_column(String(60))
    language: Mapped[str] = mapped_column(String(12))
    format: Mapped[str] = mapped_column(String(12))
    version: Mapped[int] = mapped_column(Integer, default=1)
    title: Mapped[str] = mapped_column(String(300))
    channel: Mapped[str] = mapped_column(String(200))
    disclosed_on: Mapped[date] = mapped_column(Date)
    translator: Mapped[str | None] = mapped_column(String(200), default=None)
    back_translation_attested: Mapped[bool] = mapped_column(Boolean, default=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: set when a material change made this version out of date
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    case: Mapped[Case] = relationship(back_populates="disclosures")


class Meeting(Base):
    __tablename__ = "meetings"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    held_on: Mapped[date] = mapped_column(Date)
    place: Mapped[str] = mapped_column(String(200))
    languages_used: Mapped[list[str]] = mapped_column(JSON)
    interpreter: Mapped[str | None] = mapped_column(String(200), default=None)
    attendance_women: Mapped[int] = mapped_column(Integer, default=0)
    attendance_men: Mapped[int] = mapped_column(Integer, default=0)
    attendance_other: Mapped[int] = mapped_column(Integer, default=0)
    attendance_youth: Mapped[int] = mapped_column(Integer, default=0)
    minutes_language: Mapped[str] = mapped_column(String(12))
    minutes_original: Mapped[str] = mapped_column(Text)
    #: [{"language", "text", "translator"}]: translations kept beside the original
    minutes_translations: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Question(Base):
    """A question from the community; none may stay unanswered when the community decides."""

    __tablename__ = "questions"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(12))
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    answer: Mapped[str | None] = mapped_column(Text, default=None)
    answer_language: Mapped[str | None] = mapped_column(String(12), default=None)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class IntegrityFlag(Base):
    """A suspected prohibited act (NCIP-AO3 §65; EMRIP18 ¶20): open flags block consent."""

    __tablename__ = "integrity_flags"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    category: Mapped[str] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(Text)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime())
    raised_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    #: user names of the accounts the flag is about: none of them may review it
    concerns: Mapped[list[str]] = mapped_column(JSON, default=list)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    resolution: Mapped[str | None] = mapped_column(Text, default=None)
    #: after review: was the prohibited act found to have happened?
    upheld: Mapped[bool | None] = mapped_column(Boolean, default=None)


class Grievance(Base):
    """A complaint through the mechanism agreed with the community (UNGP 31; domain.md §6).

    The complainant may stay anonymous; judicial and administrative routes stay open whatever
    happens here (EMRIP18 ¶41), so nothing on this record waives them.
    """

    __tablename__ = "grievances"
    __table_args__ = (
        CheckConstraint(f"category IN {GRIEVANCE_CATEGORIES!r}", name="category"),
        CheckConstraint(f"status IN {GRIEVANCE_STEPS!r}", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    category: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(40))
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    #: the complainant asked that the proponent's side never learn who they are
    confidential: Mapped[bool] = mapped_column(Boolean, default=False)
    #: the name, unless anonymous or confidential (then it is in ComplainantIdentity)
    complainant: Mapped[str | None] = mapped_column(String(300), default=None)
    #: SHA-256 over salt and name of a confidential complainant, as on the trail
    complainant_commitment: Mapped[str | None] = mapped_column(String(64), default=None)
    #: user names of the accounts the grievance is about: none of them may assess it
    concerns: Mapped[list[str]] = mapped_column(JSON, default=list)
    language: Mapped[str] = mapped_column(String(12))
    text: Mapped[str] = mapped_column(Text)
    condition_id: Mapped[int | None] = mapped_column(ForeignKey("conditions.id"), default=None)
    received_on: Mapped[date] = mapped_column(Date)
    received_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(20), default="received")
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    assessed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    assessment: Mapped[str | None] = mapped_column(Text, default=None)
    #: after assessment: is the complaint founded?
    upheld: Mapped[bool | None] = mapped_column(Boolean, default=None)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    response: Mapped[str | None] = mapped_column(Text, default=None)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    mediator: Mapped[str | None] = mapped_column(String(300), default=None)
    retaliation_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    retaliation_found: Mapped[bool | None] = mapped_column(Boolean, default=None)
    retaliation_note: Mapped[str | None] = mapped_column(Text, default=None)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    resolution: Mapped[str | None] = mapped_column(Text, default=None)
    #: None when the complainant could not be asked (anonymous) or did not say
    complainant_satisfied: Mapped[bool | None] = mapped_column(Boolean, default=None)


class ComplainantIdentity(Base):
    """Who raised a confidential grievance: read only by those permissions allow
    (fpic.workflow.permissions.can_see_complainant); the trail holds only the salted commitment."""

    __tablename__ = "complainant_identities"

    grievance_id: Mapped[int] = mapped_column(ForeignKey("grievances.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    #: 16 random bytes, hex: with the name it opens the commitment on the trail
    salt: Mapped[str] = mapped_column(String(32))


class Decision(Base):
    """The community's decision as recorded by its representative (domain §5)."""

    __tablename__ = "decisions"
    __table_args__ = (
        CheckConstraint(f"outcome IN {OUTCOMES!r}", name="outcome"),
        CheckConstraint(f"voters IN {VOTERS!r}", name="voters"),
        CheckConstraint("present_count BETWEEN 0 AND eligible", name="present_count"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    outcome: Mapped[str] = mapped_column(String(40))
    decided_on: Mapped[date] = mapped_column(Date)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    place: Mapped[str] = mapped_column(String(200))
    deciding_body: Mapped[str] = mapped_column(String(300))
    decision_rule: Mapped[str] = mapped_column(String(30))
    #: the mandated representatives present (for an assembly: those who attended, if listed)
    present_representative_ids: Mapped[list[int]] = mapped_column(JSON)
    #: who voted, as the protocol said on the day: "representatives" or "assembly"
    voters: Mapped[str] = mapped_column(String(20), default="representatives")
    #: entitled to vote on the day: the representatives mandated, or the assembly's number
    eligible: Mapped[int] = mapped_column(Integer)
    #: of those, how many were present
    present_count: Mapped[int] = mapped_column(Integer)
    #: decided by consensus: no objection was raised (``consensus_note`` says how)
    consensus: Mapped[bool] = mapped_column(Boolean, default=False)
    votes_for: Mapped[int] = mapped_column(Integer, default=0)
    votes_against: Mapped[int] = mapped_column(Integer, default=0)
    abstentions: Mapped[int] = mapped_column(Integer, default=0)
    consensus_note: Mapped[str | None] = mapped_column(Text, default=None)
    dissent: Mapped[str | None] = mapped_column(Text, default=None)
    scope_phases: Mapped[list[str]] = mapped_column(JSON, default=list)
    scope_activities: Mapped[list[str]] = mapped_column(JSON, default=list)
    scope_area: Mapped[str | None] = mapped_column(Text, default=None)
    rejected_components: Mapped[list[str]] = mapped_column(JSON, default=list)
    text_language: Mapped[str] = mapped_column(String(12))
    text_original: Mapped[str] = mapped_column(Text)
    translations: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    #: ids of the disclosure rows in force when the community decided
    disclosure_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    #: a consent's term: no activity may start after this day under it
    term_ends_on: Mapped[date | None] = mapped_column(Date, default=None)
    #: the events the community named as calling for its consent again (RECONSENT_EVENTS)
    reconsent_on: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=text("'[]'"))

    case: Mapped[Case] = relationship(back_populates="decisions")
    conditions: Mapped[list[Condition]] = relationship(order_by="Condition.id")


class Condition(Base):
    __tablename__ = "conditions"

    id: Mapped[int] = mapped_column(primary_key=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(12))
    obligated_party: Mapped[str] = mapped_column(String(200))
    due_on: Mapped[date | None] = mapped_column(Date, default=None)
    verification: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="open")
    #: the condition in the community's other languages: [{language, text, translator}]
    translations: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    #: what starts the obligation when there is no date ("before the access road is built")
    due_event: Mapped[str | None] = mapped_column(Text, default=None)
    #: the latest evidence of progress, met or breach; the full history is on the trail
    evidence: Mapped[str | None] = mapped_column(Text, default=None)
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class ActivityRecord(Base):
    """The start of a project activity: only allowed under a consent that covers it."""

    __tablename__ = "activity_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    activity: Mapped[str] = mapped_column(String(120))
    phase: Mapped[str | None] = mapped_column(String(120), default=None)
    started_on: Mapped[date] = mapped_column(Date)
    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CaseNote(Base):
    """A free-text record attached to an action (screening memo, withdrawal reasons, ...)."""

    __tablename__ = "case_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(60))
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(12), default=None)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))


class TrailEvent(Base):
    """One link of a hash chain; the database refuses UPDATE and DELETE (see migrations).

    The encoding that ``hash`` covers is specified in docs/audit-format.md.
    """

    __tablename__ = "trail_events"
    __table_args__ = (
        UniqueConstraint("chain", "seq", name="chain_seq"),
        Index("ix_trail_events_case_id", "case_id"),
        Index("ix_trail_events_actor_at", "actor", "at"),
        #: the trail filtered by person, newest first, counted without reading the rows
        Index("ix_trail_events_actor_id", "actor", "id", "chain"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    chain: Mapped[str] = mapped_column(String(40))
    seq: Mapped[int] = mapped_column(Integer)
    #: the exact ISO-8601 UTC text that was hashed
    at: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(80))
    actor_role: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(60))
    outcome: Mapped[str] = mapped_column(String(10))
    case_id: Mapped[int | None] = mapped_column(Integer, default=None)
    from_stage: Mapped[str | None] = mapped_column(String(60), default=None)
    to_stage: Mapped[str | None] = mapped_column(String(60), default=None)
    #: canonical JSON text of the event's data, stored exactly as hashed
    data: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class ChainHead(Base):
    """The last link of each chain; also the row that is locked to append to the system chain."""

    __tablename__ = "chain_heads"

    chain: Mapped[str] = mapped_column(String(40), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class MerkleNode(Base):
    """A complete subtree of the trail's Merkle log (fpic/trail/log.py): ``level`` 0 is an
    event's leaf, which names its event; the node at (level, idx) covers leaves idx·2^level to
    (idx+1)·2^level − 1 and never changes once written."""

    __tablename__ = "merkle_nodes"
    __table_args__ = (UniqueConstraint("chain", "seq", name="merkle_leaf_event"),)

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    #: hex SHA-256 of the subtree (RFC 9162 §2.1.1)
    hash: Mapped[str] = mapped_column(String(64))
    #: a leaf's event; NULL above the leaves
    chain: Mapped[str | None] = mapped_column(String(40), default=None)
    seq: Mapped[int | None] = mapped_column(Integer, default=None)


class MerkleLog(Base):
    """The log's one head row: its size and the roots of the complete subtrees that make it up
    (largest first), locked last by every transaction that appended events, which puts the
    events of all chains into one order."""

    __tablename__ = "merkle_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger)
    #: the frontier's hex hashes, concatenated
    frontier: Mapped[str] = mapped_column(Text)


class IssuedCheckpoint(Base):
    """A signed checkpoint as it was issued (docs/audit-format.md, section 16), one per size."""

    __tablename__ = "checkpoints"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    note: Mapped[str] = mapped_column(Text)


class Cosignature(Base):
    """A witness's cosignature line of a stored checkpoint, kept once the log verified it
    (c2sp.org/tlog-cosignature): served with the checkpoint and printed on receipts."""

    __tablename__ = "cosignatures"

    size: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("checkpoints.size"), primary_key=True, autoincrement=False
    )
    #: the witness's key name and hex key id
    witness: Mapped[str] = mapped_column(String(300), primary_key=True)
    line: Mapped[str] = mapped_column(Text)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RefusalWindow(Base):
    """Refused attempts counted per address or account and fixed window (fpic/trail/refusals.py).

    Counter rows (``chain`` NULL) hold how many refusals came from one address or account in a
    window, so every worker and machine sharing the database applies the same limits. Summary
    rows (``chain`` set) count the refusals beyond a limit that were not recorded one by one;
    each becomes one ``refused_repeatedly`` event on ``chain`` once its window has ended. A
    working table, not the trail: rows are only added and counted up.
    """

    __tablename__ = "refusal_windows"
    __table_args__ = (
        #: the summaries still to be written, found without reading the counters
        Index("ix_refusal_windows_open", "recorded", "window_end"),
    )

    #: "addr:<address>", "user:<name>", "signin:<address>", or "sum:<chain> <actor> <role>"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    #: the window as the trail's timestamp text (audit.format_time), so it sorts and compares
    window_start: Mapped[str] = mapped_column(String(32), primary_key=True)
    window_end: Mapped[str] = mapped_column(String(32))
    count: Mapped[int] = mapped_column(Integer)
    chain: Mapped[str | None] = mapped_column(String(40), default=None)
    actor: Mapped[str | None] = mapped_column(String(80), default=None)
    actor_role: Mapped[str | None] = mapped_column(String(20), default=None)
    case_id: Mapped[int | None] = mapped_column(Integer, default=None)
    #: counters are born recorded; a summary once its event is on the trail
    recorded: Mapped[bool] = mapped_column(Boolean, default=False)


class EvidenceBlob(Base):
    """The content of an evidence file, stored once however many actions list it: its key is
    the SHA-256 of its bytes (fpic/evidence/store.py), so a changed file no longer matches its
    key and ``fpic audit verify`` finds it. The database refuses UPDATE and DELETE."""

    __tablename__ = "evidence_blobs"
    __table_args__ = (
        CheckConstraint("length(sha256) = 64", name="sha256_length"),
        CheckConstraint("size > 0 AND chunks > 0", name="not_empty"),
    )

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    chunks: Mapped[int] = mapped_column(Integer)
    media_type: Mapped[str] = mapped_column(String(100))
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime())


class EvidenceChunk(Base):
    """One piece (1 MiB, the last one shorter) of a blob, numbered from 0: a file is written
    and read a piece at a time, never held whole in memory."""

    __tablename__ = "evidence_chunks"

    sha256: Mapped[str] = mapped_column(ForeignKey("evidence_blobs.sha256"), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class EvidenceFile(Base):
    """A file as one action listed it: the index of the files on the trail (the trail event
    ``chain``/``seq`` lists the same file at ``position``, and that listing is what is hashed;
    ``fpic audit verify`` checks that the two agree). ``visible_to`` is None for a file every
    reader of the case may see, else the roles the community allowed besides its own
    representatives (fpic.workflow.permissions.can_see_file)."""

    __tablename__ = "evidence_files"
    __table_args__ = (UniqueConstraint("chain", "seq", "position", name="evidence_files_listing"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    chain: Mapped[str] = mapped_column(String(40))
    seq: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True, default=None)
    sha256: Mapped[str] = mapped_column(ForeignKey("evidence_blobs.sha256"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    visible_to: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AreaDataset(Base):
    """One version of a reference dataset (the WDPA of a month, a critical habitat map), as
    imported by ``fpic areas import``: append-only; a new version is a new dataset."""

    __tablename__ = "area_datasets"
    __table_args__ = (
        UniqueConstraint("kind", "source", "version", name="area_datasets_version"),
        CheckConstraint(
            "kind IN (" + ", ".join(f"'{k}'" for k in AREA_KINDS) + ")", name="area_kind"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    #: who publishes it ("UNEP-WCMC and IUCN, World Database on Protected Areas")
    source: Mapped[str] = mapped_column(String(300))
    #: the publisher's version or date ("2026-11")
    version: Mapped[str] = mapped_column(String(40))
    #: SHA-256 of the file imported
    sha256: Mapped[str] = mapped_column(String(64))
    features: Mapped[int] = mapped_column(Integer)
    skipped: Mapped[int] = mapped_column(Integer)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime())
    imported_by: Mapped[str] = mapped_column(String(80))


class ReferenceArea(Base):
    """A protected area, critical habitat or Key Biodiversity Area of a dataset. Its bounding
    box is kept beside its shape so the spatial index is built without reading shapes."""

    __tablename__ = "reference_areas"
    __table_args__ = (UniqueConstraint("dataset_id", "external_id", name="reference_areas_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("area_datasets.id"), index=True)
    #: the publisher's id (WDPA_PID, else WDPAID; a KBA's SitRecID)
    external_id: Mapped[str] = mapped_column(String(80))
    name: Mapped[str] = mapped_column(String(300))
    #: IUCN_CATEGORIES for a protected area; None for other kinds
    category: Mapped[str | None] = mapped_column(String(20), default=None)
    designation: Mapped[str] = mapped_column(String(300), default="")
    world_heritage: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(40), default="")
    west: Mapped[float] = mapped_column()
    south: Mapped[float] = mapped_column()
    east: Mapped[float] = mapped_column()
    north: Mapped[float] = mapped_column()
    #: the shape as WKB, longitude/latitude in WGS 84
    shape: Mapped[bytes] = mapped_column(LargeBinary)


class ProjectArea(Base):
    """A project's area, or one phase's or activity's where they differ (``label``), as
    recorded by an action on one of its cases: append-only; a change is a new row, and the
    latest row of each label is the area now."""

    __tablename__ = "project_areas"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    label: Mapped[str] = mapped_column(String(120), default="")
    #: the normalised GeoJSON geometry (fpic.geo.shapes.normalised_geojson), listed with this
    #: SHA-256 on the trail event that recorded it
    geojson: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    area_m2: Mapped[float] = mapped_column()
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))


class Territory(Base):
    """A community's territory as its representative signed it off after participatory
    mapping: append-only; the latest row is the territory now. A confidential territory's
    shape is seen only by the community's representatives and the roles it allowed
    (``visible_to``, as for a file: fpic.workflow.permissions.can_see_file)."""

    __tablename__ = "territories"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    geojson: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    area_m2: Mapped[float] = mapped_column()
    visible_to: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))


class LegacySite(Base):
    """An abandoned or orphaned mine site: where it is, who worked it, what hazards it left,
    how it stands now, and the communities around it."""

    __tablename__ = "legacy_sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))  #: ISO 3166-1 alpha-2
    former_operator: Mapped[str] = mapped_column(String(300))
    #: when it was worked, as known ("1936-1972", "1980s")
    worked: Mapped[str] = mapped_column(String(80), default="")
    #: hazards left: acid drainage, open shafts, tailings, mercury ...
    hazards: Mapped[list[str]] = mapped_column(JSON, default=list)
    current_state: Mapped[str] = mapped_column(Text)
    #: a point or an area, GeoJSON in WGS 84
    geojson: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())

    communities: Mapped[list[Community]] = relationship(
        secondary="legacy_site_communities", order_by="Community.name"
    )


class LegacySiteCommunity(Base):
    __tablename__ = "legacy_site_communities"

    site_id: Mapped[int] = mapped_column(ForeignKey("legacy_sites.id"), primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), primary_key=True)


# the latest area recorded for the case's project, read with the case at no extra statement:
# a screening made against an older one is out of date (fpic.workflow.guards)
Case.current_area_id = column_property(  # type: ignore[assignment]
    select(func.max(ProjectArea.id))
    .where(ProjectArea.project_id == Case.project_id)
    .correlate_except(ProjectArea)
    .scalar_subquery()
)


class PasskeyCredential(Base):
    """A representative's passkey or security key (WebAuthn), with which they sign the
    community's decisions when its protocol asks for it (fpic.workflow.signing).

    The private key never leaves the authenticator: the server keeps only the public key
    (COSE), so nobody holding the server's credentials can sign. A new key signs nothing until
    it is confirmed by whoever may confirm the representative's mandate, never by its holder
    (fpic.accounts.passkeys); registering, confirming and revoking it are on the system chain.
    """

    __tablename__ = "passkey_credentials"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    #: what the holder calls it ("my phone", "blue security key")
    name: Mapped[str] = mapped_column(String(80))
    #: the authenticator's credential id, as each assertion names it
    credential_id: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    #: the credential's public key, COSE-encoded as the authenticator gave it
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    #: the authenticator's signature counter at its last use (0 for most passkeys)
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    #: the relying party (the site's domain) the credential was made for
    rp_id: Mapped[str] = mapped_column(String(253))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    confirmed_by: Mapped[User | None] = relationship(foreign_keys=[confirmed_by_id])

    @property
    def status(self) -> str:
        """``pending`` (registered, not confirmed yet), ``confirmed`` or ``revoked``."""
        if self.revoked_at is not None:
            return "revoked"
        return "confirmed" if self.confirmed_at is not None else "pending"


# whether the case's protocol asks the representatives to sign its decisions, read with the
# case at no extra statement (fpic.workflow.signing): None while no protocol is agreed
Case.signs_decisions = column_property(  # type: ignore[assignment]
    select(Protocol.signed_decisions)
    .where(Protocol.case_id == Case.id)
    .correlate_except(Protocol)
    .scalar_subquery()
)


#: what a notification is about: a person's turn on a case, or a deadline coming
NOTICE_KINDS = ("turn", "deadline")


class OutboxMessage(Base):
    """An e-mail to send (fpic.notify): queued in the transaction of what calls for it (an
    action that moves a case on), sent later by ``fpic notify``. It holds what to say, not the
    text: the text is rendered when it is sent, in the language its recipient has then.

    Its state is in its times: pending (neither claimed nor sent, ``next_attempt_at`` set),
    claimed by a sender (``claimed_at``; never marked sent: the sender stopped in the middle,
    and whether it went out is uncertain), sent (``sent_at``), or given up (none of the three:
    ``last_error`` says why). A sender claims a row and commits before it talks to the mail
    server, so no row is ever sent twice by itself.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint(f"kind IN {NOTICE_KINDS!r}", name="kind"),
        #: what the sender looks for at every pass, and only that: a small index however many
        #: rows were sent
        Index(
            "ix_outbox_due",
            "next_attempt_at",
            sqlite_where=text("sent_at IS NULL AND claimed_at IS NULL"),
            postgresql_where=text("sent_at IS NULL AND claimed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), default=None, index=True)
    #: what the message says, untranslated (a stage's and its steps' titles, a deadline's
    #: message id and parameters, its day)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: one message per thing to say: the same reminder queued twice is one row
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    #: the local part of its Message-ID, the same at every attempt
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)

    user: Mapped[User] = relationship()
