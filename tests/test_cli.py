"""The fpic command: demo seeding, init-db, users and deadlines."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from fpic.accounts.passwords import check_password
from fpic.cli import main
from fpic.demo.seed import COMMUNITIES, DEMO_PASSWORD
from fpic.storage.db import Database
from fpic.storage.models import ROLES, Case, Community, Mandate, TrailEvent, User
from fpic.workflow.process import shipped_templates
from tests.factories import protocol, walk_to


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.sqlite3'}"


def run(url: str, *args: str, input: str | None = None, env: dict[str, str | None] | None = None):
    return CliRunner().invoke(main, ["--database-url", url, *args], input=input, env=env)


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.sqlite3'}"
    result = run(url, "demo")
    assert result.exit_code == 0, result.output
    return url


def test_demo_prints_every_login_and_a_trail(demo_db):
    result = run(demo_db, "demo")
    assert result.exit_code == 0, result.output
    assert "already present; nothing changed" in result.output
    for username in ["liaison", "auditor", "admin", *(f"rep-{c.slug}" for c in COMMUNITIES)]:
        assert username in result.output
    assert DEMO_PASSWORD in result.output
    assert "Decision trail of" in result.output
    assert "Trail head" in result.output


def test_demo_is_idempotent(demo_db):
    db = Database(demo_db)
    with db.read_session() as session:
        before = session.scalar(select(func.count()).select_from(TrailEvent))
    assert run(demo_db, "demo", "--quiet").exit_code == 0
    with db.read_session() as session:
        assert session.scalar(select(func.count()).select_from(TrailEvent)) == before
    db.dispose()


def test_demo_has_a_case_in_every_stage_of_every_template(demo_db):
    db = Database(demo_db)
    with db.read_session() as session:
        standing = {tuple(row) for row in session.execute(select(Case.template_id, Case.stage))}
        regions = {c.region for c in session.scalars(select(Community))}
        languages = {tuple(c.content_languages) for c in session.scalars(select(Community))}
        users = {u.username: u for u in session.scalars(select(User))}
    for template in shipped_templates().values():
        for stage in template.stages:
            assert (template.id, stage) in standing, f"no demo case at {template.id}:{stage}"
    assert len(regions) >= 3
    assert len(languages) >= 3
    assert {u.role for u in users.values()} == set(ROLES)
    assert check_password(users["liaison"], DEMO_PASSWORD)
    with db.read_session() as session:
        mandates = session.scalars(select(Mandate)).all()
        recorders = {m.recorded_by.role for m in mandates if m.recorded_by}
        confirmers = {m.confirmed_by.role for m in mandates if m.confirmed_by}
        assigned = session.scalar(
            select(func.count()).select_from(Case).where(Case.facilitator_id.is_not(None))
        )
        total = session.scalar(select(func.count()).select_from(Case))
    # the demo's register was made the community's way: by its own side, never the proponent's
    assert mandates
    assert all(m.confirmed_at is not None for m in mandates)
    assert recorders == {"facilitator", "representative"}
    assert confirmers == {"facilitator"}
    assert assigned == total
    db.dispose()


def test_demo_trail_verifies(demo_db):
    result = run(demo_db, "audit", "verify")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Intact:")


def test_audit_export_of_one_community_holds_its_case_chains_whole(demo_db, tmp_path):
    import io

    from fpic.trail import audit

    slug = COMMUNITIES[0].slug
    out = tmp_path / "community.jsonl"
    result = run(demo_db, "audit", "export", "--community", slug, "-o", str(out))
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8", newline="") as stream:
        verified = audit.verify_export(stream)
    assert verified.intact, verified.first_break
    db = Database(demo_db)
    with db.read_session() as session:
        ids = session.scalars(select(Case.id).join(Community).where(Community.slug == slug)).all()
        events = session.scalar(
            select(func.count())
            .select_from(TrailEvent)
            .where(TrailEvent.chain.in_([audit.case_chain(i) for i in ids]))
        )
    db.dispose()
    rows = list(audit.read_jsonl(io.StringIO(out.read_text(encoding="utf-8"))))
    assert {row["chain"] for row in rows} == {audit.case_chain(i) for i in ids}
    assert verified.events == events
    assert run(demo_db, "audit", "export", "--community", "nowhere").exit_code == 1
    both = run(demo_db, "audit", "export", "--community", slug, "--case", str(ids[0]))
    assert both.exit_code == 2


def test_init_db_is_repeatable(url):
    first, second = run(url, "init-db"), run(url, "init-db")
    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert "Database ready" in second.output


def test_first_user_must_be_an_admin(url):
    result = run(url, "user", "add", "maria", "--role", "liaison", "--password", "long-enough-1")
    assert result.exit_code == 2
    assert "first user must be an administrator" in result.output


def test_user_add_by_admin_lands_on_the_system_chain(url):
    assert (
        run(url, "user", "add", "root", "--role", "admin", "--password", "a-good-pass").exit_code
        == 0
    )
    result = run(url, "user", "add", "maria", "--role", "auditor", "--by", "root")
    assert result.exit_code == 0, result.output
    code = re.search(r"[0-9A-Z]{4}(-[0-9A-Z]{4}){3}", result.output)
    assert code is not None, result.output
    enrolled = run(
        url, "user", "enrol", "maria",
        env={"FPIC_ENROLMENT_CODE": code.group(0), "FPIC_NEW_PASSWORD": "auditor-of-the-trail"},
    )  # fmt: skip
    assert enrolled.exit_code == 0, enrolled.output
    db = Database(url)
    with db.read_session() as session:
        actions = session.scalars(
            select(TrailEvent.action).where(TrailEvent.chain == "system").order_by(TrailEvent.seq)
        ).all()
    assert actions == ["add_user", "enrol", "add_user", "enrol"]
    db.dispose()


def test_nobody_sets_another_persons_password_from_the_cli(url):
    run(url, "user", "add", "root", "--role", "admin", "--password", "a-good-pass")
    result = run(
        url, "user", "add", "bob", "--role", "auditor", "--by", "root", "--password", "chosen-4-u"
    )
    assert result.exit_code == 2
    assert "Nobody sets another person's password" in result.output
    db = Database(url)
    with db.read_session() as session:
        assert session.scalar(select(User).where(User.username == "bob")) is None
    db.dispose()


def test_user_add_refuses_short_password_and_writes_no_user(url):
    result = run(url, "user", "add", "root", "--role", "admin", "--password", "short")
    assert result.exit_code == 1
    assert "8 to 128 characters" in result.output
    db = Database(url)
    with db.read_session() as session:
        assert session.scalar(select(User).where(User.username == "root")) is None
    db.dispose()


def test_user_add_by_non_admin_is_refused_and_logged(url):
    run(url, "user", "add", "root", "--role", "admin", "--password", "a-good-pass")
    run(url, "user", "add", "aud", "--role", "auditor", "--by", "root")
    result = run(url, "user", "add", "eve", "--role", "admin", "--by", "aud")
    assert result.exit_code == 1
    assert "may not do this" in result.output
    db = Database(url)
    with db.read_session() as session:
        last = session.scalar(
            select(TrailEvent).where(TrailEvent.chain == "system").order_by(TrailEvent.seq.desc())
        )
    assert last is not None
    assert (last.action, last.outcome, last.actor) == ("add_user", "refused", "aud")
    db.dispose()


def test_deadlines_lists_overdue_items_of_the_demo(demo_db):
    result = run(demo_db, "deadlines", "--days", "30")
    assert result.exit_code == 0, result.output
    assert "OVERDUE" in result.output
    # a template's time limit, with the provision it comes from (Peru's 120 days)
    assert "art. 24" in result.output


def test_deadlines_on_an_empty_database(url):
    run(url, "init-db")
    result = run(url, "deadlines")
    assert result.exit_code == 0
    assert "Nothing due" in result.output


def test_cli_speaks_the_terminal_language(demo_db, monkeypatch):
    import fpic.cli

    fpic.cli._translations.cache_clear()
    monkeypatch.setenv("LANGUAGE", "es")
    try:
        result = run(demo_db, "audit", "verify")
    finally:
        fpic.cli._translations.cache_clear()
    assert result.exit_code == 0
    assert result.stdout.startswith("Íntegro") or "eventos" in result.stdout, result.stdout


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serve_demo_seeds_and_serves_as_the_quick_start_says(tmp_path: Path):
    """The README's main command: `fpic serve --demo` on the SQLite default in a fresh folder."""
    import os
    import subprocess
    import sys
    import time
    import urllib.request

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FPIC_")}
    fpic = Path(sys.executable).with_name("fpic")
    server = subprocess.Popen(
        [str(fpic), "serve", "--demo", "--port", str(port), "--workers", "1"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline, status = time.monotonic() + 120, None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2) as page:
                    status, body = page.status, page.read().decode()
                    break
            except OSError:
                time.sleep(0.5)
        assert status == 200, server.poll()
        assert 'name="username"' in body
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert "rep-ayllu-qollana" in output  # the demo logins are printed
    db = Database(f"sqlite:///{tmp_path / 'fpic.sqlite3'}")
    with db.read_session() as session:
        assert session.scalar(select(func.count()).select_from(User)) >= 8
    db.dispose()


# --- fpic serve runs in production unless it is the demo (issue #13) -----------------------

SERVE_ENV = ("FPIC_ENV", "FPIC_SECRET_KEY", "FPIC_DATABASE_URL")


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list:
    """The app each ``fpic serve`` would hand to gunicorn, built but not run."""
    from gunicorn.app.base import BaseApplication

    apps: list = []
    monkeypatch.setattr(BaseApplication, "run", lambda self: apps.append(self.load()))
    for name in SERVE_ENV:
        monkeypatch.delenv(name, raising=False)
    return apps


def _serve(url: str, *args: str, **env: str):
    # every variable serve may set is named, so CliRunner puts each back afterwards
    wanted: dict[str, str | None] = {name: None for name in SERVE_ENV}
    return run(url, "serve", *args, env={**wanted, **env})


def test_serve_without_demo_runs_in_production_with_secure_cookies(url, served):
    result = _serve(url, FPIC_SECRET_KEY="k" * 64)
    assert result.exit_code == 0, result.output
    [app] = served
    assert app.config["FPIC_ENV"] == "production"
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert "Development mode" not in result.output


def test_serve_without_demo_or_secret_key_stops_with_a_message(url, served):
    result = _serve(url)
    assert result.exit_code != 0
    assert "FPIC_SECRET_KEY must be set in production." in result.output
    assert served == []


def test_the_demo_keeps_development_conveniences_and_says_so(url, served):
    result = _serve(url, "--demo")
    assert result.exit_code == 0, result.output
    [app] = served
    assert app.config["FPIC_ENV"] == "development"
    assert app.config["SESSION_COOKIE_SECURE"] is False
    assert "Development mode: session cookies are not marked Secure" in result.output


def test_a_legacy_site_is_registered_from_the_command_line(url):
    assert (
        run(
            url, "user", "add", "admin", "--role", "admin", "--password", "Long-enough-2026"
        ).exit_code
        == 0
    )
    args = ["legacy-sites", "add", "--slug", "mina-vieja", "--name", "Mina Vieja", "--country",
            "PE", "--former-operator", "Minera del Sur", "--hazard", "acid drainage", "--hazard",
            "open shafts", "--state", "Abandoned in 1981.", "--by", "admin"]  # fmt: skip
    done = run(url, *args, "--location", "-71.90, -13.50; -71.88, -13.50; -71.88, -13.48")
    assert done.exit_code == 0, done.output
    assert "mina-vieja registered" in done.output
    refused = run(url, *args[:3], "mina-nueva", *args[4:], "--location", "-71.9, -95")
    assert refused.exit_code == 1
    assert "is not on Earth" in refused.output
    assert "Traceback" not in refused.output
    with Database(url).read_session() as session:
        [event] = session.scalars(
            select(TrailEvent).where(TrailEvent.action == "add_legacy_site")
        ).all()
    assert event.outcome == "done"
    data = json.loads(event.data)
    assert data["hazards"] == ["acid drainage", "open shafts"]
    # the trail holds no floating-point number: the place is GeoJSON text
    assert json.loads(data["geojson"])["type"] == "Polygon"


def test_the_demo_mining_case_shows_what_a_world_heritage_property_blocks(demo_db):
    """The demo's northern extension reaches a demo World Heritage property and a demo
    category II national park: the first blocks its consent, the second needed an
    assessment before disclosure completed (issue 17)."""
    with Database(demo_db).read_session() as session:
        case = session.scalars(
            select(Case)
            .join(Case.project)
            .where(Case.project.has(name="Cerro Qollana northern extension (demo)"))
        ).one()
        findings = {f["name"]: f for f in case.screening["findings"]}
    heritage = findings["Qollana sacred landscape (demo World Heritage property)"]
    park = findings["Parque Nacional Apu Qollana (demo)"]
    assert (heritage["relation"], heritage.get("world_heritage")) == ("overlaps", True)
    assert (park["relation"], park["category"]) == ("overlaps", "II")
    assert case.stage == "decision"


def test_consents_expire_records_each_term_that_ended_and_sends_the_case_back(world, community):
    """A consent given for 30 days, long past on the real clock the command runs on."""
    from datetime import timedelta

    from tests.factories import decision, step_data

    case_id = world.open_case(community)
    walk_to(world, case_id, "decision", community)
    ends = (world.clock.now().date() + timedelta(days=30)).isoformat()
    world.act(case_id, "give_consent", community.rep_actors[0],
              decision(world, community, term_ends_on=ends))  # fmt: skip
    world.act(case_id, "validate_agreement", community.rep_actors[0],
              step_data(world, community, "fpic-general", "validate_agreement"))  # fmt: skip
    open_ended = world.open_case(community)
    walk_to(world, open_ended, "monitoring", community)
    result = run(world.db.url, "consents-expire", "--by", world.liaison.username)
    assert result.exit_code == 0, result.output
    reference = world.case(case_id).reference
    assert f"{reference}: the consent's term ended on {ends}" in result.output
    assert world.case(case_id).stage == "disclosure"
    assert world.case(open_ended).stage == "monitoring"  # a consent without a term stays
    again = run(world.db.url, "consents-expire", "--by", world.liaison.username)
    assert "No consent has passed its term." in again.output


def test_deadlines_show_when_the_community_may_decide(world, community):
    """Issue 20: the end of the deliberation is a date to plan by through negotiation too,
    counted in the time zone asked for (the command runs on the system clock)."""
    case_id = world.open_case(community)
    walk_to(world, case_id, "deliberation", community, proto=protocol(min_deliberation_days=700))
    world.act(case_id, "open_negotiation", community.rep_actors[0], {"text": "Ready to talk."})
    result = run(world.db.url, "deadlines", "--days", "800", "--time-zone", "America/Lima")
    assert result.exit_code == 0, result.output
    assert "the community's minimum deliberation period ends" in result.output
    refused = run(world.db.url, "deadlines", "--time-zone", "Mars/Olympus")
    assert refused.exit_code == 2
    assert "is not a time zone name" in refused.output
