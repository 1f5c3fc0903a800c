"""The deployed app under gunicorn with several worker processes, on SQLite and on PostgreSQL
(as the application's restricted role): people sending conflicting actions at the same moment.
One wins each round, every other gets the stale-version page (409), nobody gets a 500 or a raw
"database is locked", no action lands twice, and every chain verifies."""

from __future__ import annotations

import html
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from fpic.storage.grants import grant_app_role
from fpic.storage.models import Case, Question
from fpic.trail.audit import verify_database
from tests.conftest import as_role
from tests.factories import PASSWORD, World, make_world, walk_to

pytestmark = pytest.mark.slow

WORKERS = 3
CLIENTS = 6
ROUNDS = 5
FREE_RUNNING_ACTIONS = 4  # per client
ROOT = Path(__file__).resolve().parent.parent
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
VERSION = re.compile(r'name="version" type="hidden" value="(\d+)"')


@dataclass
class Person:
    """A browser of one person: keeps its session cookie itself, because the production app
    marks cookies Secure and the test talks plain HTTP on loopback."""

    port: int
    username: str
    cookies: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, path: str, form: dict[str, str] | None = None):
        conn = HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        text = response.read().decode("utf-8")
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
        conn.close()
        return response.status, text

    def sign_in(self) -> None:
        _, page = self.request("GET", "/login")
        status, _ = self.request(
            "POST",
            "/login",
            {"username": self.username, "password": PASSWORD, "csrf_token": _csrf(page)},
        )
        assert status == 302, f"{self.username} could not sign in"

    def open_form(self, url: str) -> dict[str, str]:
        status, page = self.request("GET", url)
        assert status == 200, (url, status)
        return {"csrf_token": _csrf(page), "version": VERSION.search(page).group(1)}  # type: ignore[union-attr]


def _csrf(page: str) -> str:
    match = CSRF.search(page)
    assert match, "no CSRF token on the page"
    return html.unescape(match.group(1))


@dataclass
class Site:
    world: World
    case_id: int
    port: int
    people: list[str]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def gunicorn(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Site]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'fpic.sqlite3'}"
        yield from _serve(url, url, tmp_path)
    else:
        pg_url = request.getfixturevalue("pg_url")
        role = request.getfixturevalue("app_role")
        yield from _serve(pg_url, as_role(pg_url, role), tmp_path, role)


def _serve(owner_url: str, app_url: str, tmp_path: Path, role: str | None = None) -> Iterator[Site]:
    # yesterday, so that the server's real clock never runs behind the setup's events
    world = make_world(owner_url, start=date.today() - timedelta(days=1))
    community = world.add_community("ayllu-qollana", ["qu", "es"], reps=CLIENTS // 2)
    case_id = world.open_case(community)
    walk_to(world, case_id, "disclosure", community)
    if role:
        grant_app_role(world.db.engine, role)
    people = [
        *(f"liaison-{n}" for n in range(CLIENTS - len(community.rep_actors))),
        *(a.username for a in community.rep_actors),
    ]
    for username in people:
        if username.startswith("liaison-"):
            world.add_account(username, "liaison")
    port = _free_port()
    env = {
        **os.environ,
        "FPIC_DATABASE_URL": app_url,
        "FPIC_SECRET_KEY": "concurrency-test-secret",
        "FPIC_ENV": "production",
    }
    log = (tmp_path / "gunicorn.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", str(WORKERS), "--bind",
         f"127.0.0.1:{port}", "--timeout", "60", "web.wsgi:app"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        _wait_until_up(port, server, tmp_path / "gunicorn.log")
        yield Site(world, case_id, port, people)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
        world.db.dispose()


def _wait_until_up(port: int, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.poll() is None, f"gunicorn stopped:\n{log.read_text()}"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"gunicorn did not start:\n{log.read_text()}")


def _question_count(world: World, case_id: int) -> int:
    with world.db.read_session() as session:
        return (
            session.scalar(
                select(func.count()).select_from(Question).where(Question.case_id == case_id)
            )
            or 0
        )


def _version(world: World, case_id: int) -> int:
    with world.db.read_session() as session:
        return session.scalar(select(Case.version).where(Case.id == case_id)) or 0


def _check_answer(status: int, page: str, answers: Counter[int]) -> None:
    answers[status] += 1
    assert status in (302, 409), f"answered {status}:\n{page[:2000]}"
    assert "database is locked" not in page
    if status == 409:
        assert "This case changed while you were working" in page


def _everyone_signed_in(site: Site) -> list[Person]:
    people = [Person(site.port, username) for username in site.people]
    for person in people:
        person.sign_in()
    return people


@pytest.mark.parametrize("gunicorn", ["sqlite", "postgresql"], indirect=True)
def test_same_version_at_the_same_moment_one_wins_each_round(gunicorn: Site):
    site = gunicorn
    url = f"/cases/{site.case_id}/actions/ask_question"
    people = _everyone_signed_in(site)
    answers: Counter[int] = Counter()
    lock = threading.Lock()
    start_version = _version(site.world, site.case_id)
    barrier = threading.Barrier(len(people))
    for round_ in range(ROUNDS):
        forms = [person.open_form(url) for person in people]
        assert len({f["version"] for f in forms}) == 1

        def send(n: int, round_: int = round_, forms: list[dict[str, str]] = forms) -> None:
            data = {**forms[n], "text": f"Round {round_}: question from person {n}?"}
            barrier.wait()
            status, page = people[n].request("POST", url, data)
            with lock:
                _check_answer(status, page, answers)

        _run_all(send, len(people))
        assert answers[302] == round_ + 1, answers
    assert answers == Counter({302: ROUNDS, 409: ROUNDS * (len(people) - 1)})
    assert _question_count(site.world, site.case_id) == ROUNDS
    assert _version(site.world, site.case_id) == start_version + ROUNDS
    with site.world.db.read_session() as session:
        assert verify_database(session).intact


@pytest.mark.parametrize("gunicorn", ["sqlite", "postgresql"], indirect=True)
def test_free_running_people_lose_nothing_and_nothing_lands_twice(gunicorn: Site):
    """Each person retries after a stale answer until their questions are all in."""
    site = gunicorn
    url = f"/cases/{site.case_id}/actions/ask_question"
    people = _everyone_signed_in(site)
    answers: Counter[int] = Counter()
    lock = threading.Lock()
    start_version = _version(site.world, site.case_id)

    def work(n: int) -> None:
        for k in range(FREE_RUNNING_ACTIONS):
            while True:
                form = people[n].open_form(url)
                status, page = people[n].request(
                    "POST", url, {**form, "text": f"Question {k} from person {n}?"}
                )
                with lock:
                    _check_answer(status, page, answers)
                if status == 302:
                    break

    _run_all(work, len(people))
    expected = FREE_RUNNING_ACTIONS * len(people)
    assert answers[302] == expected
    assert _question_count(site.world, site.case_id) == expected
    assert _version(site.world, site.case_id) == start_version + expected
    with site.world.db.read_session() as session:
        texts = session.scalars(select(Question.text).where(Question.case_id == site.case_id))
        assert len(set(texts)) == expected  # none twice
        assert verify_database(session).intact


def _run_all(target: Callable[[int], None], count: int) -> None:
    errors: list[BaseException] = []

    def guarded(n: int) -> None:
        try:
            target(n)
        except BaseException as exc:  # carried to the test thread below
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    if errors:
        raise errors[0]
