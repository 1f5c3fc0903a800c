"""Session time-outs: 30 minutes idle, 12 hours in all, whatever the cookie says."""

from __future__ import annotations

from collections.abc import Callable

from fpic.accounts.sessions import ABSOLUTE_TIMEOUT, IDLE_TIMEOUT, TOUCH_INTERVAL
from tests.factories import World
from tests.web.conftest import Browser


def _signed_out(browser: Browser) -> bool:
    page = browser.get("/")
    return page.status_code == 302 and "/login" in page.location


def test_a_session_left_idle_too_long_ends(world: World, signed_in: Callable[[str], Browser]):
    liaison = signed_in("liaison")
    world.clock.advance(seconds=IDLE_TIMEOUT.total_seconds() - 1)
    assert not _signed_out(liaison)
    world.clock.advance(seconds=IDLE_TIMEOUT.total_seconds() + 1)
    assert _signed_out(liaison)


def test_activity_keeps_a_session_alive_until_the_absolute_limit(
    world: World, signed_in: Callable[[str], Browser]
):
    liaison = signed_in("liaison")
    step = IDLE_TIMEOUT - TOUCH_INTERVAL  # active more often than the idle limit
    spent = step
    while spent < ABSOLUTE_TIMEOUT:
        world.clock.advance(seconds=step.total_seconds())
        assert not _signed_out(liaison), f"signed out after {spent} of steady use"
        spent += step
    world.clock.advance(seconds=step.total_seconds())
    assert _signed_out(liaison)
