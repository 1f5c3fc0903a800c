"""Sign-in throttling that holds across workers, and the password rules (OWASP ASVS 5.0 §6)."""

from __future__ import annotations

import pytest

from fpic.accounts import THROTTLE_FAILURES, sign_in
from fpic.clock import FrozenClock
from fpic.engine import Engine
from fpic.errors import InvalidData, NotPermitted
from fpic.registry import add_user, common_passwords
from tests.factories import PASSWORD, World


def _codes(error: Exception) -> set[str]:
    return {r.code for r in error.reasons}  # type: ignore[attr-defined]


def _fail(engine: Engine, username: str) -> set[str]:
    with pytest.raises(NotPermitted) as caught:
        sign_in(engine, username, "wrong password here")
    return _codes(caught.value)


def test_failed_sign_ins_throttle_the_name_across_workers(world: World):
    # two engines on one database stand for two gunicorn workers (or two machines)
    other_worker = Engine(world.db, world.clock)
    for attempt in range(THROTTLE_FAILURES):
        engine = world.engine if attempt % 2 else other_worker
        assert _fail(engine, "liaison") == {"sign_in_failed"}
    with pytest.raises(NotPermitted) as caught:
        sign_in(other_worker, "liaison", PASSWORD)  # even the right password waits
    assert _codes(caught.value) == {"sign_in_throttled"}
    assert sign_in(world.engine, "auditor", PASSWORD).actor.username == "auditor"
    world.clock.advance(minutes=16)
    assert sign_in(world.engine, "liaison", PASSWORD).actor.username == "liaison"


def test_an_unknown_name_is_throttled_the_same_way(world: World):
    """Throttling answers alike for names with and without an account: no enumeration."""
    for _ in range(THROTTLE_FAILURES):
        assert _fail(world.engine, "nobody-here") == {"sign_in_failed"}
    assert _fail(world.engine, "nobody-here") == {"sign_in_throttled"}


def test_failures_older_than_the_window_do_not_count(world: World):
    for _ in range(THROTTLE_FAILURES - 1):
        _fail(world.engine, "liaison")
    world.clock.advance(minutes=15, seconds=1)
    _fail(world.engine, "liaison")
    assert sign_in(world.engine, "liaison", PASSWORD).actor.username == "liaison"


@pytest.mark.parametrize(
    ("password", "accepted"),
    [
        ("Ab3$efg", False),  # 7 characters
        ("Ab3$efgh", True),  # 8
        ("x" * 63 + "!", True),  # 64
        ("ñandú-𝓹𝓪𝓼𝓼-ᓄᓇᕗᑦ", True),  # any script counts, character by character
        ("Password123", False),  # common, whatever the case
        ("iloveyou", False),
        ("contraseña", False),
    ],
)
def test_password_rules(world: World, password: str, accepted: bool):
    add = lambda: add_user(  # noqa: E731
        world.engine, world.admin, username="maria", password=password, role="liaison"
    )
    if accepted:
        add()
        assert sign_in(world.engine, "maria", password).actor.username == "maria"
    else:
        with pytest.raises(InvalidData) as caught:
            add()
        assert caught.value.field == "password"


def test_the_common_password_list_ships_with_the_package():
    common = common_passwords()
    assert len(common) > 150
    assert "password123" in common
    assert all(word == word.lower() and len(word) >= 8 for word in common)


def test_a_frozen_clock_sees_the_window_end(world: World):
    clock = FrozenClock(world.clock.now())
    engine = Engine(world.db, clock)
    for _ in range(THROTTLE_FAILURES):
        _fail(engine, "auditor")
    clock.advance(minutes=14)
    assert _fail(engine, "auditor") == {"sign_in_throttled"}
    clock.advance(minutes=2)
    assert sign_in(engine, "auditor", PASSWORD).actor.username == "auditor"
