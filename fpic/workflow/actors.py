"""Who is acting: a small value object passed into the engine by every interface."""

from __future__ import annotations

from dataclasses import dataclass

from fpic.storage.models import User


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
