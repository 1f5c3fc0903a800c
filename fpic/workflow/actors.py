"""Who is acting: a small value object passed into the engine by every interface."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select

from fpic.storage.models import Representative, User


@dataclass(frozen=True)
class Actor:
    user_id: int
    username: str
    role: str
    representative_id: int | None = None
    community_id: int | None = None

    @classmethod
    def of(cls, user: User) -> Actor:
        rep = user.representative
        return cls(
            user_id=user.id,
            username=user.username,
            role=user.role,
            representative_id=rep.id if rep else None,
            community_id=rep.community_id if rep else None,
        )


def person_lookup(*more: Any) -> Select[Any]:
    """A SELECT of what an Actor is made of (and ``more`` columns), from ``users`` joined to
    the representative the account speaks for: what a credential lookup made at every request
    reads in one statement, instead of the account and then its representative."""
    return select(
        User.id, User.username, User.role, Representative.id, Representative.community_id, *more
    ).outerjoin(Representative, Representative.id == User.representative_id)


def actor_of_row(row: Sequence[Any]) -> Actor:
    """The Actor of a row of ``person_lookup``."""
    return Actor(row[0], row[1], row[2], row[3], row[4])
