"""Evidence files through the web, as people send and fetch them: plain multipart forms that
work without JavaScript, files always downloaded (never shown or run in the browser), a refused
file refused with the rest of the form kept, confidential files out of sight of every role the
community has not allowed, on every page and in the bundle."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, text
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from fpic.evidence.bundle import verify_bundle
from fpic.storage.models import EvidenceBlob, EvidenceFile, TrailEvent
from tests.evidence.samples import ACCEPTED, REFUSED
from tests.factories import Community, World, disclosure, walk_to
from tests.web.conftest import Browser, csrf_token, field_errors
from web import create_app
from web.downloads import attachment

FILES_INPUT = re.compile(r'<input[^>]*type="file"[^>]*>')


def upload(name: str, content: bytes | None = None) -> tuple[io.BytesIO, str]:
    return (io.BytesIO(ACCEPTED[name][0] if content is None else content), name)


def disclosure_form(world: World, **overrides: Any) -> dict[str, Any]:
    sent = disclosure(world, "affected_areas", ["qu"], ["written", "oral"])
    return {
        "item": sent["item"], "languages": sent["languages"], "formats": sent["formats"],
        "title": "Mapa de las zonas afectadas", "channel": sent["channel"],
        "disclosed_on": sent["disclosed_on"], "translator": sent["translator"], **overrides,
    }  # fmt: skip


def _stored(world: World) -> tuple[int, int, int]:
    with world.db.read_session() as db:
        return (
            db.scalar(select(func.count()).select_from(EvidenceBlob)) or 0,
            db.scalar(select(func.count()).select_from(EvidenceFile)) or 0,
            db.scalar(select(func.count()).select_from(TrailEvent)) or 0,
        )


def _file_ids(world: World, case_id: int) -> dict[str, int]:
    with world.db.read_session() as db:
        rows = db.execute(select(EvidenceFile.name, EvidenceFile.id, EvidenceFile.sha256)
                          .where(EvidenceFile.case_id == case_id))  # fmt: skip
        # not the maps the walk recorded (the project's area, the territory)
        walked = ("project-area.geojson", "territory.geojson")
        return {name or sha256: file_id for name, file_id, sha256 in rows if name not in walked}


@pytest.fixture
def at_disclosure(world: World, community: Community) -> int:
    case_id = world.open_case(community)
    walk_to(world, case_id, "disclosure", community)
    return case_id


def test_the_form_uploads_without_javascript(signed_in, at_disclosure: int) -> None:
    page = signed_in("liaison").get(f"/cases/{at_disclosure}/actions/register_disclosure")
    assert 'enctype="multipart/form-data"' in page.text
    inputs = FILES_INPUT.findall(page.text)
    assert len(inputs) == 1
    assert 'name="files"' in inputs[0]
    assert "multiple" in inputs[0]
    assert "Up to 20 files, each at most 250 MB" in page.text


def test_a_disclosure_with_its_files_is_shown_everywhere_and_downloads_as_sent(
    world: World, signed_in, at_disclosure: int
) -> None:
    liaison = signed_in("liaison")
    url = f"/cases/{at_disclosure}/actions/register_disclosure"
    files = [upload("booklet.pdf"), upload("presentation.wav")]
    sent = liaison.submit(url, {**disclosure_form(world), "files": files})
    assert sent.status_code == 302, sent.text[:2000]
    files = _file_ids(world, at_disclosure)
    assert set(files) == {"booklet.pdf", "presentation.wav"}
    case_page = liaison.get(f"/cases/{at_disclosure}").text
    for name, file_id in files.items():
        link = f'href="/cases/{at_disclosure}/files/{file_id}"'
        # on the timeline and in each of the matrix's two cells (Quechua, written and oral)
        assert case_page.count(link) == 3, name
        assert hashlib.sha256(ACCEPTED[name][0]).hexdigest() in case_page
    with world.db.read_session() as db:
        seq = db.scalar(select(EvidenceFile.seq).where(EvidenceFile.id == files["booklet.pdf"]))
    event_page = liaison.get(f"/audit/case:{at_disclosure}/{seq}").text
    assert "booklet.pdf" in event_page
    assert hashlib.sha256(ACCEPTED["booklet.pdf"][0]).hexdigest() in event_page
    got = liaison.get(f"/cases/{at_disclosure}/files/{files['booklet.pdf']}")
    assert got.status_code == 200
    assert got.data == ACCEPTED["booklet.pdf"][0]
    assert got.headers["Content-Type"] == "application/pdf"
    assert got.headers["Content-Length"] == str(len(ACCEPTED["booklet.pdf"][0]))
    assert got.headers["Content-Disposition"] == (
        "attachment; filename=\"booklet.pdf\"; filename*=UTF-8''booklet.pdf"
    )
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert got.headers["Content-Security-Policy"] == "sandbox; default-src 'none'"


def test_a_name_outside_ascii_downloads_under_its_own_name(world, signed_in, at_disclosure):
    liaison = signed_in("liaison")
    url = f"/cases/{at_disclosure}/actions/register_disclosure"
    name = "Willakuy Ñawpa — qillqa.pdf"
    pdf = io.BytesIO(ACCEPTED["booklet.pdf"][0])
    liaison.submit(url, {**disclosure_form(world), "files": [(pdf, name)]})
    got = liaison.get(f"/cases/{at_disclosure}/files/{_file_ids(world, at_disclosure)[name]}")
    assert got.headers["Content-Disposition"] == (
        'attachment; filename="Willakuy awpa  qillqa.pdf"; '
        "filename*=UTF-8''Willakuy%20%C3%91awpa%20%E2%80%94%20qillqa.pdf"
    )


def test_a_quote_or_backslash_cannot_end_the_header_s_file_name() -> None:
    assert attachment('a"b\\c;.pdf') == (
        "attachment; filename=\"abc;.pdf\"; filename*=UTF-8''a%22b%5Cc%3B.pdf"
    )


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_refused_file_is_said_so_next_to_the_files_with_the_rest_kept(
    world, signed_in, at_disclosure, name
) -> None:
    liaison = signed_in("liaison")
    before = _stored(world)
    url = f"/cases/{at_disclosure}/actions/register_disclosure"
    files = [upload("booklet.pdf"), (io.BytesIO(REFUSED[name]), name)]
    answer = liaison.submit(url, {**disclosure_form(world), "files": files})
    assert answer.status_code == 400
    (error,) = field_errors(answer.text, "files")
    assert "is not a kind of file fpic keeps" in error
    assert "Mapa de las zonas afectadas" in answer.text  # what was typed is kept
    assert "choose the files again" in answer.text
    blobs, listed, events = _stored(world)
    assert (blobs, listed) == before[:2]  # no file written
    assert events == before[2] + 1  # the refusal, on the case's trail


def test_an_empty_file_and_one_too_large_are_refused(world: World, at_disclosure: int) -> None:
    app = create_app({"DATABASE_URL": world.db.url, "SECRET_KEY": "test-secret",
                      "FPIC_CLOCK": world.clock, "FPIC_MAX_FILE_SIZE": 1000})  # fmt: skip
    liaison = Browser(app.test_client())
    liaison.login("liaison")
    url = f"/cases/{at_disclosure}/actions/register_disclosure"
    before = _stored(world)
    empty = liaison.submit(url, {**disclosure_form(world), "files": [upload("booklet.pdf", b"")]})
    assert field_errors(empty.text, "files") == ["booklet.pdf is empty."]
    big = liaison.submit(url, {**disclosure_form(world), "files": [upload("assembly.png")]})
    assert big.status_code == 400
    assert field_errors(big.text, "files") == [
        "assembly.png is larger than 1 MB, the most a file may be."
    ]
    assert "Mapa de las zonas afectadas" in big.text
    assert "each at most 1 MB" in big.text
    assert _stored(world)[:2] == before[:2]


def test_a_request_larger_than_any_form_may_be_is_refused_whole(world, at_disclosure) -> None:
    app = create_app({"DATABASE_URL": world.db.url, "SECRET_KEY": "test-secret",
                      "FPIC_CLOCK": world.clock, "FPIC_MAX_FILE_SIZE": 1000})  # fmt: skip
    liaison = Browser(app.test_client())
    liaison.login("liaison")
    url = f"/cases/{at_disclosure}/actions/register_disclosure"
    page = liaison.get(url)
    huge = ACCEPTED["booklet.pdf"][0] + bytes(3 * 1024 * 1024)  # more than 20 files' worth
    values = MultiDict({**disclosure_form(world), "csrf_token": csrf_token(page.text)})
    values.add("files", FileStorage(io.BytesIO(huge), "x.pdf"))
    boundary, body = encode_multipart(values)  # in memory: nothing left open when refused
    answer = liaison.client.post(
        url, data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )
    assert answer.status_code == 413
    assert "too large" in answer.text


# --- every kind, on SQLite and PostgreSQL -------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_app(request: pytest.FixtureRequest) -> Iterator[tuple[World, Flask]]:
    world = request.getfixturevalue("world" if request.param == "sqlite" else "pg_world")
    app = create_app(
        {"DATABASE_URL": world.db.url, "SECRET_KEY": "test-secret", "FPIC_CLOCK": world.clock}
    )
    yield world, app
    app.extensions["fpic"].db.dispose()


def test_every_kind_of_file_uploads_downloads_and_verifies(any_app, tmp_path) -> None:
    world, app = any_app
    community = world.add_community("ayllu-sallqa", ["qu", "es"])
    case_id = world.open_case(community)
    walk_to(world, case_id, "disclosure", community)
    liaison = Browser(app.test_client())
    liaison.login("liaison")
    url = f"/cases/{case_id}/actions/register_disclosure"
    sent = liaison.submit(url, {**disclosure_form(world),
                                "files": [upload(name) for name in sorted(ACCEPTED)]})  # fmt: skip
    assert sent.status_code == 302, sent.text[:2000]
    for name, file_id in _file_ids(world, case_id).items():
        got = liaison.get(f"/cases/{case_id}/files/{file_id}")
        assert got.data == ACCEPTED[name][0], name
        assert got.headers["Content-Type"].split(";")[0] == ACCEPTED[name][1]
    bundle = liaison.get(f"/audit/bundle?case={case_id}")
    assert bundle.status_code == 200
    assert bundle.headers["Content-Type"] == "application/zip"
    path = tmp_path / "bundle.zip"
    path.write_bytes(bundle.data)
    found = verify_bundle(path)
    assert found.intact, found.files.problems
    # and the maps of the walk: the project's area and the territory
    assert found.files.files == len(ACCEPTED) + 2


# --- confidential files -------------------------------------------------------------------------


@pytest.fixture
def confidential(world: World, community: Community) -> tuple[int, str]:
    """A grievance whose statement (the recording) only the mediator may see besides the
    community; the mediator is assigned to the case."""
    case_id = world.open_case(community)
    world.ensure_independent(case_id, community, "mediator")
    from tests.evidence.test_store import sent as received

    world.act(case_id, "lodge_grievance", community.rep_actors[0], {
        "category": "impacts", "channel": "oral", "anonymous": True, "language": "qu",
        "text": "Polvo.", "received_on": world.clock.now().date().isoformat(),
        "files": received("radio.mp3"), "files_confidential": True,
        "files_visible_to": ["mediator"],
    })  # fmt: skip
    return case_id, community.rep_actors[0].username


ALLOWED = ("rep", "mediator")
NOT_ALLOWED = ("liaison", "auditor", "admin", "facilitator", "state-authority")


def _pages(b: Browser, case_id: int, seq: int) -> dict[str, str]:
    return {
        "case": b.get(f"/cases/{case_id}").text,
        "event": b.get(f"/audit/case:{case_id}/{seq}").text,
        "trail": b.get(f"/audit/?case={case_id}").text,
        "export": b.get(f"/audit/export?format=jsonl&case={case_id}").text,
    }


def test_a_confidential_file_is_out_of_sight_of_every_role_not_allowed(
    world: World, signed_in: Callable[[str], Browser], confidential: tuple[int, str], tmp_path
) -> None:
    case_id, rep = confidential
    digest = hashlib.sha256(ACCEPTED["radio.mp3"][0]).hexdigest()
    with world.db.read_session() as db:
        row = db.scalars(select(EvidenceFile).where(EvidenceFile.case_id == case_id)).one()
        file_id, seq, name = row.id, row.seq, row.name
    assert name == "radio.mp3"
    for who in (*ALLOWED, *NOT_ALLOWED):
        b = signed_in(rep if who == "rep" else who)
        pages = _pages(b, case_id, seq)
        download = b.get(f"/cases/{case_id}/files/{file_id}")
        bundle = b.get(f"/audit/bundle?case={case_id}")
        path = tmp_path / f"{who}.zip"
        path.write_bytes(bundle.data)
        with zipfile.ZipFile(path) as archive:
            held = archive.namelist()
            manifest = json.loads(archive.read("manifest.json"))
        if who in ALLOWED:
            assert download.data == ACCEPTED["radio.mp3"][0], who
            assert "radio.mp3" in pages["case"], who
            assert "radio.mp3" in pages["event"], who
            assert f"files/{digest}" in held, who
        else:
            assert download.status_code == 404, who
            for page, html in pages.items():
                assert "radio.mp3" not in html, (who, page)
                assert f"/files/{file_id}" not in html, (who, page)
            assert "1 confidential file" in pages["case"], who
            assert f"files/{digest}" not in held, who
            assert manifest["withheld"][0]["sha256"] == digest, who
        # the trail keeps its hash, which everyone who reads the case may check
        assert digest in pages["export"], who
        assert verify_bundle(path).intact, who


# --- the community's register: a mandate's resolution -----------------------------------------


def test_a_mandate_s_resolution_goes_up_with_it_and_anyone_who_reads_the_register_gets_it(
    world: World, community: Community, signed_in: Callable[[str], Browser]
) -> None:
    from tests.web.test_register_and_enrolment import _mandate_form

    facilitator = signed_in("facilitator")
    page = facilitator.get(f"/communities/{community.slug}").text
    assert 'enctype="multipart/form-data"' in page
    scan = ACCEPTED["photo.jpg"][0]
    refused = facilitator.submit(
        f"/communities/{community.slug}",
        {**_mandate_form(world), "files": [(io.BytesIO(REFUSED["page.html"]), "acta.html")]},
        post_url=f"/communities/{community.slug}/mandates",
    )
    assert refused.status_code == 400
    assert "is not a kind of file fpic keeps" in " ".join(field_errors(refused.text, "files"))
    assert "Assembly resolution 9/2026" in refused.text  # the rest of the form is kept
    sent = facilitator.submit(
        f"/communities/{community.slug}",
        {**_mandate_form(world), "files": [(io.BytesIO(scan), "acta-9-2026.jpg")]},
        post_url=f"/communities/{community.slug}/mandates",
    )
    assert sent.status_code == 302, sent.text[:2000]
    with world.db.read_session() as db:
        listed = db.scalars(select(EvidenceFile).where(EvidenceFile.chain == "system")).one()
        event = db.scalars(
            select(TrailEvent).where(TrailEvent.chain == "system", TrailEvent.seq == listed.seq)
        ).one()
    assert event.action == "record_mandate"
    assert json.loads(event.data)["files"] == [{
        "media_type": "image/jpeg", "name": "acta-9-2026.jpg",
        "sha256": hashlib.sha256(scan).hexdigest(), "size": len(scan), "visible_to": None,
    }]  # fmt: skip
    assert listed.case_id is None
    link = f"/communities/{community.slug}/files/{listed.id}"
    for who in ("liaison", "auditor", community.rep_actors[0].username):
        reader = signed_in(who)
        assert link in reader.get(f"/communities/{community.slug}").text, who
        got = reader.get(link)
        assert got.data == scan, who
        assert got.headers["Content-Disposition"].startswith("attachment;"), who
    other = world.add_community("uma-jaqi", ["ay", "es"])
    assert (
        signed_in("liaison").get(f"/communities/{other.slug}/files/{listed.id}").status_code == 404
    )


def test_the_auditor_s_verification_page_checks_every_stored_file(
    world: World, community: Community, signed_in: Callable[[str], Browser]
) -> None:
    from tests.evidence.test_store import _untriggered, walk_with_evidence

    walk_with_evidence(world, community)
    auditor = signed_in("auditor")
    page = auditor.get("/audit/verify").text
    assert "evidence files match the SHA-256 the trail lists" in page
    digest = hashlib.sha256(ACCEPTED["agreement.docx"][0]).hexdigest()
    _untriggered(world)
    with world.db.engine.begin() as connection:
        connection.execute(
            text("UPDATE evidence_chunks SET data = :d WHERE sha256 = :s"),
            {"d": b"changed", "s": digest},
        )
    page = auditor.get("/audit/verify").text
    assert "First evidence file that does not match the trail" in page
    assert digest in page


def test_a_resolution_s_event_page_links_its_file_to_the_register(
    world: World, community: Community, signed_in: Callable[[str], Browser]
) -> None:
    from fpic.accounts.registry import record_mandate
    from tests.evidence.test_store import sent as received

    today = world.clock.now().date()
    record_mandate(
        world.engine, world.facilitator, community.id, name="Sabina Condori",
        granted_by="Community assembly", evidence="Resolution 9/2026", resolved_on=today,
        valid_from=today, valid_until=today, files=received("photo.jpg"),
    )  # fmt: skip
    with world.db.read_session() as db:
        listed = db.scalars(select(EvidenceFile).where(EvidenceFile.chain == "system")).one()
    page = signed_in("auditor").get(f"/audit/system/{listed.seq}")
    assert page.status_code == 200
    link = f"/communities/{community.slug}/files/{listed.id}"
    assert f'href="{link}"' in page.text
    assert signed_in("auditor").get(link).data == ACCEPTED["photo.jpg"][0]


def test_only_someone_who_may_send_the_form_may_send_a_large_one(world, at_disclosure) -> None:
    """A visitor, or a role that may not act, is refused a large body unread (413), not after
    the server has spooled it to disk."""
    app = create_app({"DATABASE_URL": world.db.url, "SECRET_KEY": "test-secret",
                      "FPIC_CLOCK": world.clock})  # fmt: skip
    url = f"/cases/{at_disclosure}/actions/register_disclosure"
    body = ACCEPTED["booklet.pdf"][0] + bytes(3 * 1024 * 1024)
    values = MultiDict({"title": "x"})
    values.add("files", FileStorage(io.BytesIO(body), "x.pdf"))
    boundary, encoded = encode_multipart(values)
    for who in (None, "auditor"):
        client = Browser(app.test_client())
        if who is not None:
            client.login(who)
        answer = client.client.post(
            url, data=encoded, content_type=f"multipart/form-data; boundary={boundary}"
        )
        assert answer.status_code == 413, who
