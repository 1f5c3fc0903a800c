"""Passwords: the rules a new one must meet, its argon2id hash, and checking one given again.

A leaf module: the engine checks the password a weighty action asks again with it, and the
accounts (sign-in, enrolment, the administrator's issue of codes) hash with it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from importlib import resources

from argon2 import PasswordHasher

from fpic.i18n import N_
from fpic.storage.models import User
from fpic.workflow.errors import invalid

NO_PASSWORD = "!"
MIN_PASSWORD = 8
MAX_PASSWORD = 128
_hasher = PasswordHasher()  # argon2id with argon2-cffi's defaults (OWASP ASVS 5.0 floor)
#: (password, its hash) while the demo seeds its accounts, which all share one password
_shared: tuple[str, str] | None = None


@contextmanager
def one_shared_password(password: str) -> Iterator[None]:
    """For the demo's seeding only: its accounts all have ``password``, hashed once at full
    cost; while seeding, that password's hash is reused and checking it against that hash
    needs no second argon2 run. Every other password is hashed and checked as always."""
    global _shared
    _shared = (password, _hasher.hash(password))
    try:
        yield
    finally:
        _shared = None


def hash_password(password: str, username: str = "") -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise invalid(
            "password",
            N_("A password must have %(min)s to %(max)s characters."),
            min=MIN_PASSWORD,
            max=MAX_PASSWORD,
        )
    if password.strip().lower() in common_passwords():
        raise invalid("password", N_("This password is too common; choose another one."))
    # the first word an attacker tries for an account is its own name (ASVS 5.0 §6.2.11)
    if len(username) >= 3 and username.lower() in password.lower():
        raise invalid("password", N_("A password must not contain the user name."))
    if _shared is not None and password == _shared[0]:
        return _shared[1]
    return _hasher.hash(password)


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list of passwords people pick most (OWASP ASVS 5.0 §6.2: refuse them)."""
    text = (
        resources.files("fpic.accounts")
        .joinpath("common_passwords.txt")
        .read_text(encoding="utf-8")
    )
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line and not line.startswith("#")
    )


def check_password(user: User, password: str) -> bool:
    if _shared is not None and (password, user.password_hash) == _shared:
        return True
    try:
        return _hasher.verify(user.password_hash, password)
    except Exception:  # argon2 raises several kinds for a mismatch or a malformed hash
        return False
