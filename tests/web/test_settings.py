"""A person's own settings: e-mail address, time zone, notifications; and every time the web
shows them in their zone."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from fpic.storage.models import TrailEvent, User
from tests.factories import World
from tests.web.conftest import Browser, field_errors


def _user(world: World, username: str) -> User:
    with world.db.read_session() as session:
        user = session.scalar(select(User).where(User.username == username))
        assert user is not None
        return user


def _events(world: World) -> int:
    with world.db.read_session() as session:
        return len(session.scalars(select(TrailEvent.id)).all())


def test_a_person_saves_their_address_zone_and_choice(
    world: World, signed_in: Callable[[str], Browser]
):
    liaison = signed_in("liaison")
    page = liaison.get("/account/settings")
    assert page.status_code == 200
    # the current zone is selected: none yet, the installation's
    assert '<option selected value="">' in page.text
    assert '<optgroup label="Americas">' in page.text
    assert "America/Lima (UTC−05:00)" in page.text
    assert 'href="/account/settings"' in page.text  # in the header's account links
    events = _events(world)
    saved = liaison.submit(
        "/account/settings",
        {"email": "Ana.Quispe@Municipio.GOB.pe", "time_zone": "America/Lima", "notify": "y"},
    )
    assert saved.status_code == 302
    user = _user(world, "liaison")
    assert (user.email, user.time_zone, user.notify) == (
        "Ana.Quispe@municipio.gob.pe", "America/Lima", True,
    )  # fmt: skip
    # a preference, like the language: not on the decision trail
    assert _events(world) == events
    page = liaison.get("/account/settings")
    assert '<option selected value="America/Lima">' in page.text
    assert 'value="Ana.Quispe@municipio.gob.pe"' in page.text
    # unticked: no notifications
    liaison.submit("/account/settings", {"email": "ana@example.org", "time_zone": ""})
    user = _user(world, "liaison")
    assert (user.email, user.time_zone, user.notify) == ("ana@example.org", None, False)


def test_a_bad_zone_and_a_bad_address_are_refused_each_by_its_field(
    world: World, signed_in: Callable[[str], Browser]
):
    liaison = signed_in("liaison")
    refused = liaison.submit(
        "/account/settings",
        {"email": "ana at example", "time_zone": "Mars/Olympus_Mons", "notify": "y"},
    )
    assert refused.status_code == 400
    assert field_errors(refused.text, "email") == [
        "This is not an e-mail address: write one like name@example.org."
    ]
    assert field_errors(refused.text, "time_zone") == [
        "Mars/Olympus_Mons is not a time zone: choose one from the list, such as America/Lima."
    ]
    # what was typed stays in view, and nothing was saved
    assert 'value="ana at example"' in refused.text
    assert '<option selected value="Mars/Olympus_Mons">' in refused.text
    user = _user(world, "liaison")
    assert (user.email, user.time_zone) == (None, None)
    # the server's own zone is no place's
    refused = liaison.submit("/account/settings", {"email": "", "time_zone": "localtime"})
    assert refused.status_code == 400


def test_times_are_shown_in_the_persons_zone(world: World, signed_in: Callable[[str], Browser]):
    """The world's clock says 09:00 UTC: 04:00 in Lima, 18:00 in Tokyo."""
    liaison = signed_in("liaison")
    assert "9:00:00" in liaison.get("/account/settings").text
    liaison.submit("/account/settings", {"email": "", "time_zone": "America/Lima"})
    page = liaison.get("/account/settings")
    assert "In your time zone it is now" in page.text
    assert "4:00:00" in page.text
    assert "9:00:00" not in page.text
    # another page: the trail lists when each thing happened (the accounts, made at 09:00
    # UTC, on the system chain the administrator reads)
    admin = signed_in("admin")
    assert "9:00:00" in admin.get("/audit/?chain=system").text
    admin.submit("/account/settings", {"email": "", "time_zone": "America/Lima"})
    trail = admin.get("/audit/?chain=system").text
    assert "4:00:00" in trail
    assert "9:00:00" not in trail
    admin.submit("/account/settings", {"email": "", "time_zone": "Asia/Tokyo"})
    assert "6:00:00" in admin.get("/audit/?chain=system").text


def test_an_administrator_gives_a_new_account_its_address(
    world: World, signed_in: Callable[[str], Browser]
):
    admin = signed_in("admin")
    added = admin.submit(
        "/admin/users",
        {"username": "new-auditor", "role": "auditor", "representative_id": "",
         "email": "auditor@example.org"},
    )  # fmt: skip
    assert added.status_code == 200, added.text[:300]
    assert _user(world, "new-auditor").email == "auditor@example.org"
    refused = admin.submit(
        "/admin/users",
        {"username": "other-auditor", "role": "auditor", "representative_id": "",
         "email": "not an address"},
    )  # fmt: skip
    assert refused.status_code == 400
    assert field_errors(refused.text, "email") == [
        "This is not an e-mail address: write one like name@example.org."
    ]
