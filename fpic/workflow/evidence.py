"""The evidence files an action carries: declared with :func:`evidence_fields`, taken out of
the payload by the engine (:func:`files_of`) and listed on the trail event by their hash.

The files are not part of the payload: the payload is what the person typed, and the trail lists
each file once, with its SHA-256, under ``data.files`` (docs/audit-format.md, section 12).
"""

from __future__ import annotations

from fpic.evidence.intake import ReceivedFile
from fpic.evidence.store import Listed, listing
from fpic.i18n import N_
from fpic.workflow.errors import invalid
from fpic.workflow.permissions import FILE_READER_ROLES
from fpic.workflow.schema import Field, Payload

FILES = "files"
CONFIDENTIAL = "files_confidential"
VISIBLE_TO = "files_visible_to"


def evidence_fields(label: str, hint: str | None = None) -> tuple[Field, ...]:
    """The files of an action (documents, recordings, photos, signed minutes), and whether
    they are confidential and to whom besides the community's representatives."""
    return (
        Field(FILES, "files", label, hint=hint, required=False),
        Field(
            CONFIDENTIAL, "flag", N_("The files are confidential"),
            hint=N_(
                "Sacred sites, a complainant's statement: only the community's representatives "
                "and the roles ticked below will see them. The trail keeps their hash only."
            ),
        ),
        Field(
            VISIBLE_TO, "choices", N_("Who else may see the confidential files"),
            required=False, options=FILE_READER_ROLES, vocabulary="roles",
        ),
    )  # fmt: skip


def files_of(payload: Payload) -> tuple[list[ReceivedFile], list[Listed]]:
    """Take the files out of ``payload`` (which keeps what was typed): the files received,
    and how the trail lists them. Nothing for an action without files."""
    if FILES not in payload:
        return [], []
    allowed = visibility(payload)
    received: list[ReceivedFile] = payload.pop(FILES) or []
    payload.pop(CONFIDENTIAL, None)
    payload.pop(VISIBLE_TO, None)
    return received, listing(received, allowed)


def visibility(payload: Payload) -> list[str] | None:
    """Who may see what the action keeps close: None for every reader of the case, else the
    roles allowed besides the community's own representatives."""
    confidential = payload.get(CONFIDENTIAL, False)
    visible_to = payload.get(VISIBLE_TO) or []
    if visible_to and not confidential:
        # roles ticked for a file meant to be kept close: never publish its name by mistake
        raise invalid(
            CONFIDENTIAL, N_("Tick %(field)s to let only the roles ticked see the files.")
        )
    return list(visible_to) if confidential else None
