"""Message ids for people-facing texts produced by the engine.

The engine never translates: it returns a :class:`Reason` carrying an English message id and
its parameters, and the interface that shows it to a reader translates the id in the reader's
locale. ``N_`` only marks a literal so that Babel's extractor finds it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def N_(message: str) -> str:
    """Mark ``message`` for extraction without translating it (gettext_noop)."""
    return message


@dataclass(frozen=True)
class Reason:
    """Why something is refused: a stable code, a translatable message id and its parameters."""

    code: str
    message: str
    params: dict[str, Any] = field(default_factory=dict)
    #: parameters shown to the person refused but never recorded (a refused file's name, which
    #: may say whose statement it is): on the trail each is "…"
    unrecorded: tuple[str, ...] = ()

    def render(self) -> str:
        """The English text, for logs and the CLI; interfaces translate ``message`` instead."""
        return self.message % self.params if self.params else self.message

    def as_data(self) -> dict[str, Any]:
        """For the trail: the message id travels with the code so any reader can translate it."""
        params = {k: "…" if k in self.unrecorded else v for k, v in self.params.items()}
        return {"code": self.code, "message": self.message, "params": params}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Reason:
        return cls(
            str(data.get("code", "")),
            str(data.get("message", data.get("code", ""))),
            dict(data.get("params") or {}),
        )
