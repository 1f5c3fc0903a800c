"""Exceptions the engine raises, each with a message a person understands.

Every refusal carries one or more :class:`~fpic.i18n.Reason` so an interface can translate it.
"""

from __future__ import annotations

from fpic.i18n import N_, Reason


class FpicError(Exception):
    """Base class: ``reasons`` say why, in translatable form."""

    code = "error"

    def __init__(self, *reasons: Reason) -> None:
        self.reasons: tuple[Reason, ...] = reasons
        super().__init__("; ".join(r.render() for r in reasons))


class NotFound(FpicError):
    code = "not_found"


class NotPermitted(FpicError):
    """The actor's role or community may not do this."""

    code = "not_permitted"


class Throttled(NotPermitted):
    """Too many refused tries: this one was not even checked. Never counted as a failure
    itself, so waiting always ends the lock-out."""

    code = "throttled"


class GuardRefused(FpicError):
    """An FPIC rule (a guard) forbids the action now."""

    code = "guard_refused"


class StaleCase(FpicError):
    """The case changed since the caller saw it: reload and try again."""

    code = "stale_case"

    def __init__(self, case_id: int, expected: int, actual: int) -> None:
        self.case_id, self.expected, self.actual = case_id, expected, actual
        super().__init__(
            Reason(
                "stale_case",
                N_(
                    "This case changed since you opened it (you saw version %(expected)s, "
                    "it is now at version %(actual)s). Reload the case and try again."
                ),
                {"expected": expected, "actual": actual},
            )
        )


class InvalidTransition(FpicError):
    """Unknown trigger, or a trigger that does not apply in the case's current stage."""

    code = "invalid_transition"


class InvalidData(FpicError):
    """Malformed or missing data for an action; ``field`` names the offending input."""

    code = "invalid_data"

    def __init__(self, field: str, reason: Reason) -> None:
        self.field = field
        super().__init__(reason)


class WrongConfirmation(InvalidData):
    """The password asked again before a weighty act was not the person's: checked only once
    the action itself would go through, and counted like a failed sign-in."""


class TemplateError(FpicError):
    """A process template that cannot be loaded; the message names the file and key."""

    code = "template_error"


def invalid(field: str, message: str, **params: object) -> InvalidData:
    """Build an :class:`InvalidData` for ``field`` (message is an untranslated id)."""
    return InvalidData(field, Reason("invalid_data", message, {"field": field, **params}))
