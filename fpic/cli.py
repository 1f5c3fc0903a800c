"""The ``fpic`` command: database set-up, demo data, the audit tools, users and deadlines."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fpic import cli_log, cli_notify, cli_registry
from fpic.cli_base import Context, _, _reason_text, _translations, pass_context
from fpic.evidence.bundle import BundleError, Summary, is_bundle, verify_bundle, write_bundle
from fpic.evidence.checks import FileCheck, check_stored, listed_size, stored_size
from fpic.read.queries import community_chains
from fpic.storage.migrate import upgrade
from fpic.storage.models import AREA_KINDS, ROLES, Case, Community, TrailEvent, User
from fpic.trail import audit
from fpic.trail.notes import Verifier
from fpic.workflow.actors import Actor
from fpic.workflow.clock import SystemClock
from fpic.workflow.engine import Engine, user_actor
from fpic.workflow.errors import FpicError
from fpic.workflow.permissions import USER_ADMIN_ROLES

__all__ = ["Context", "_translations", "main", "pass_context"]


@click.group()
@click.option(
    "--database-url",
    envvar="FPIC_DATABASE_URL",
    default=None,
    help="SQLAlchemy URL; default: ./fpic.sqlite3 (env FPIC_DATABASE_URL).",
)
@click.pass_context
def main(ctx: click.Context, database_url: str | None) -> None:
    """fpic: Free, Prior and Informed Consent processes with a verifiable decision trail."""
    ctx.obj = Context(database_url)
    ctx.call_on_close(ctx.obj.close)


def _fail(error: FpicError) -> None:
    raise click.ClickException("; ".join(_reason_text(r) for r in error.reasons))


@main.command("init-db")
@click.option(
    "--app-role",
    metavar="ROLE",
    help="PostgreSQL: after migrating, give ROLE the application's rights "
    "(read everything, append to the trail, never change it).",
)
@click.option(
    "--log-origin",
    metavar="NAME",
    help="The name a new log key signs checkpoints under, e.g. fpic.example.org/trail "
    "(default: this machine's name/fpic-trail).",
)
@pass_context
def init_db(ctx: Context, app_role: str | None, log_origin: str | None) -> None:
    """Create the database or bring it to the latest schema (safe to run again), and the
    installation's log key if it has none."""
    upgrade(ctx.db.engine)
    url = ctx.db.engine.url.render_as_string(hide_password=True)
    click.echo(_("Database ready: %(url)s", url=url))
    cli_log.ensure_key(ctx, log_origin)
    if app_role:
        _grant_app_role(ctx, app_role)


def _grant_app_role(ctx: Context, role: str) -> None:
    from fpic.storage.grants import RoleProblem, grant_app_role

    try:
        grant_app_role(ctx.db.engine, role)
    except RoleProblem as problem:
        raise click.ClickException(_role_problem_text(problem)) from None
    click.echo(
        _(
            "Role %(role)s may now read every table and add to the decision trail, "
            "but not change or delete it.",
            role=role,
        )
    )


def _role_problem_text(problem: Any) -> str:
    texts = {
        "not_postgresql": _("Database roles exist only on PostgreSQL."),
        "no_role": _("There is no role %(role)s: create it first (CREATE ROLE ... LOGIN).",
                     role=problem.role),
        "superuser": _("%(role)s is a superuser, which no grant can restrict.", role=problem.role),
        "no_schema": _("The tables are not there yet: run the migrations first."),
        "owner": _("%(role)s owns the tables; the application needs a role of its own.",
                   role=problem.role),
    }  # fmt: skip
    return texts[problem.kind]


@main.command()
@click.option("--quiet", is_flag=True, help="Only seed; do not print a case's trail.")
@pass_context
def demo(ctx: Context, quiet: bool) -> None:
    """Seed realistic demo data (once; running it again changes nothing) and print the logins."""
    from fpic.demo.seed import DEMO_PASSWORD, print_case_trail, seed

    upgrade(ctx.db.engine)
    created = seed(ctx.db, progress=_progress)
    cli_log.ensure_key(ctx, None)
    click.echo(
        _("Demo data created.") if created else _("Demo data already present; nothing changed.")
    )
    with ctx.db.read_session() as session:
        users = session.scalars(select(User).order_by(User.role, User.username)).all()
        click.echo(
            "\n" + _("Demo logins (password for all: %(password)s):", password=DEMO_PASSWORD)
        )
        for user in users:
            click.echo(f"  {user.username:<28} {user.role:<15} {user.display_name}")
        if not quiet:
            click.echo("")
            print_case_trail(session, click.echo)


def _progress(items: list[Any], label: str) -> Iterator[Any]:
    with click.progressbar(items, label=_(label), file=sys.stderr) as bar:
        yield from bar


@main.group("audit")
def audit_group() -> None:
    """Verify, export and summarise the decision trail."""


def _count_events(ctx: Context, case_id: int | None = None, community_id: int | None = None) -> int:
    with ctx.db.read_session() as session:
        stmt = select(func.count()).select_from(TrailEvent)
        if case_id is not None:
            stmt = stmt.where(TrailEvent.chain == audit.case_chain(case_id))
        if community_id is not None:
            own = select(Case.id).where(Case.community_id == community_id)
            stmt = stmt.where(
                TrailEvent.case_id.in_(own), TrailEvent.chain.not_in(audit.NON_CASE_CHAINS)
            )
        return session.scalar(stmt) or 0


def _community_asked(ctx: Context, slug: str | None, case_id: int | None) -> int | None:
    """The id of the community ``--community SLUG`` names (never with ``--case``)."""
    if slug is None:
        return None
    if case_id is not None:
        raise click.UsageError(_("Give --case or --community, not both."))
    with ctx.db.read_session() as session:
        community_id = session.scalar(select(Community.id).where(Community.slug == slug))
    if community_id is None:
        raise click.ClickException(_("There is no community %(slug)s.", slug=slug))
    return int(community_id)


def _with_bar(rows: Iterator[dict[str, Any]], total: int, label: str) -> Iterator[dict[str, Any]]:
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        for row in rows:
            bar.update(1)
            yield row


def _hex_head(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", value):
        raise click.BadParameter(_("a trail head is 64 hexadecimal digits"))
    return None if value is None else value.lower()


@audit_group.command("verify")
@click.argument("export_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--expect-head",
    metavar="HEX",
    callback=_hex_head,
    help="A trail head kept earlier (fpic audit head): exit 1 unless the one computed equals it.",
)
@cli_log.LOG_KEY
@click.option(
    "--checkpoint",
    "checkpoint_files",
    multiple=True,
    type=cli_log.A_FILE,
    help="A signed checkpoint (repeatable); with an export, its first events must make the "
    "checkpoint's tree.",
)
@click.option(
    "--proof",
    "proof_file",
    type=cli_log.A_FILE,
    help="An inclusion proof or receipt (tlog-proof) to check.",
)
@click.option(
    "--consistency",
    "consistency_file",
    type=cli_log.A_FILE,
    help="A consistency proof between the two --checkpoint files.",
)
@cli_log.WITNESSES
@cli_log.QUORUM
@pass_context
def audit_verify(
    ctx: Context,
    export_file: Path | None,
    expect_head: str | None,
    log_key: Verifier | None,
    checkpoint_files: tuple[Path, ...],
    proof_file: Path | None,
    consistency_file: Path | None,
    witnesses: list[Verifier],
    quorum: int,
) -> None:
    """Check every hash chain and every stored evidence file in the database, or an exported
    file (JSON Lines or CSV), or an evidence bundle (ZIP: its chains and every file against the
    SHA-256 its trail lists), and print the trail head computed from what verified. In the
    database, also the Merkle log: one leaf per event, making the tree its head keeps.

    With the log's public key (--log-key), from files alone: each --checkpoint's signature
    (and --quorum of the --witness keys' cosignatures), an inclusion --proof, a --consistency
    proof between two checkpoints, and that the export's events make each checkpoint's tree.

    Exit 0 when intact (and equal to --expect-head, if given); exit 1 naming the first broken
    chain and position, or when the trail head differs from the one expected.
    """
    log_files = bool(checkpoint_files or proof_file or consistency_file)
    if checkpoint_files and export_file is not None and _is_bundle(export_file):
        raise click.UsageError(
            _("Checkpoints are checked against an export (fpic audit export), not a bundle.")
        )
    if log_files and log_key is None:
        raise click.UsageError(_("Give the log's public key (--log-key) to check the log's files."))
    if log_key is not None and export_file is None:
        cli_log.verify_log_files(
            None, log_key, checkpoint_files, proof_file, consistency_file, witnesses, quorum
        )
        return
    files: FileCheck | None = None
    merkle_log: str | None = None
    if export_file is not None and _is_bundle(export_file):
        result, files = _verify_bundle(export_file)
        source = str(export_file)
    elif export_file is not None:
        try:
            # lines split at line feeds alone, every character kept: CRs are the readers' to
            # refuse, and a CR inside a quoted CSV cell must not end a line (section 8)
            with export_file.open(encoding="utf-8", newline="\n") as stream:
                result = audit.verify_export(stream)
        except (OSError, UnicodeDecodeError, audit.ExportFormatError) as exc:
            raise click.ClickException(
                _(
                    "%(file)s cannot be read as a trail export: %(problem)s",
                    file=str(export_file),
                    problem=str(exc),
                )
            ) from exc
        source = str(export_file)
    else:
        total = _count_events(ctx)
        with ctx.db.read_session() as session:
            rows = _with_bar(audit.stored_rows(session), total, _("Verifying"))
            result = audit.verify_rows(rows, audit.stored_heads(session))
            files = _check_stored_files(session)
            if result.intact:
                merkle_log = cli_log.verify_stored_log(session, total)
        source = _("the database")
    if not result.intact:
        _report_break(result, source)
        sys.exit(1)
    if files is not None and not files.intact:
        _report_file(files, source)
        sys.exit(1)
    click.echo(
        _(
            "Intact: %(events)s events in %(chains)s chains (%(source)s).",
            events=result.events,
            chains=result.chains,
            source=source,
        )
    )
    if files is not None:
        click.echo(
            _(
                "Files: %(files)s, %(size)s bytes, each matching the SHA-256 the trail lists; "
                "%(withheld)s withheld as confidential.",
                files=files.files,
                size=files.size,
                withheld=files.withheld,
            )
        )
    if merkle_log is not None:
        click.echo(merkle_log)
    if log_key is not None:
        cli_log.verify_log_files(
            export_file, log_key, checkpoint_files, proof_file, consistency_file, witnesses, quorum
        )
    head = result.trail_head
    click.echo(_("Trail head (every chain but access): %(head)s", head=head))
    if expect_head is None:
        return
    if head != expect_head:
        click.echo(
            _(
                "DIFFERENT: the trail head computed is not the kept one, %(kept)s: events were "
                "added since it was kept, or the trail was rewritten.",
                kept=expect_head,
            ),
            err=True,
        )
        sys.exit(1)
    click.echo(_("It equals the kept trail head."))


def _is_bundle(path: Path) -> bool:
    try:
        return is_bundle(path)
    except OSError as exc:
        raise click.ClickException(str(exc)) from exc


def _verify_bundle(path: Path) -> tuple[audit.Verification, FileCheck]:
    size = path.stat().st_size
    try:
        with click.progressbar(length=size, label=_("Verifying"), file=sys.stderr) as bar:
            found = verify_bundle(path, bar.update)
    except BundleError as exc:
        raise click.ClickException(
            _(
                "%(file)s cannot be read as an evidence bundle: %(problem)s",
                file=str(path),
                problem=str(exc),
            )
        ) from exc
    return found.trail, found.files


def _check_stored_files(session: Session) -> FileCheck:
    with click.progressbar(
        length=stored_size(session), label=_("Checking files"), file=sys.stderr
    ) as bar:
        return check_stored(session, bar.update)


def _report_file(files: FileCheck, source: str) -> None:
    first = files.problems[0]
    click.echo(_("BROKEN: %(problem)s (%(source)s).", problem=str(first), source=source), err=True)
    if len(files.problems) > 1:
        click.echo(
            _("%(count)s more problem(s) with files.", count=len(files.problems) - 1), err=True
        )


def _report_break(result: audit.Verification, source: str) -> None:
    first = result.first_break
    assert first is not None
    where = []
    if first.chain is not None:
        where.append(_("chain %(chain)s", chain=first.chain))
    if first.seq is not None:
        where.append(_("sequence number %(seq)s", seq=first.seq))
    if first.line is not None:
        where.append(_("line %(line)s", line=first.line))
    click.echo(
        _(
            "BROKEN: %(where)s: %(problem)s (%(source)s).",
            where=", ".join(where),
            problem=first.problem,
            source=source,
        ),
        err=True,
    )
    if len(result.breaks or []) > 1:
        click.echo(
            _("%(count)s more chain(s) broken.", count=len(result.breaks or []) - 1), err=True
        )


@audit_group.command("export")
@click.option("--case", "case_id", type=int, default=None, help="Only this case's chain.")
@click.option(
    "--community", metavar="SLUG", default=None, help="Only the chains of this community's cases."
)
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="File to write; default: standard output.",
)
@pass_context
def audit_export(
    ctx: Context, case_id: int | None, community: str | None, fmt: str, output: Path | None
) -> None:
    """Export the trail (every chain, one case's, or one community's cases') as JSON Lines or
    CSV."""
    community_id = _community_asked(ctx, community, case_id)
    total = _count_events(ctx, case_id, community_id)
    writer = audit.write_jsonl if fmt == "jsonl" else audit.write_csv
    with ctx.db.read_session() as session:
        rows = _rows_asked(session, case_id, community_id)
        if output is None:
            count = writer(rows, sys.stdout)
        else:
            partial = output.with_name(output.name + ".partial")
            with partial.open("w", encoding="utf-8", newline="") as stream:
                count = writer(_with_bar(rows, total, _("Exporting")), stream)
            partial.replace(output)  # never leave a half-written export under the real name
    click.echo(_("Exported %(count)s events.", count=count), err=True)


@audit_group.command("bundle")
@click.option("--case", "case_id", type=int, default=None, help="Only this case's chain.")
@click.option(
    "--community", metavar="SLUG", default=None, help="Only the chains of this community's cases."
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The ZIP file to write.",
)
@click.option(
    "--include-confidential",
    is_flag=True,
    help="Put the content of confidential files in too (by default only their hash is).",
)
@pass_context
def audit_bundle(
    ctx: Context,
    case_id: int | None,
    community: str | None,
    output: Path,
    include_confidential: bool,
) -> None:
    """Write the auditor's evidence bundle: the trail (every chain, one case's, or one
    community's cases'), every file it lists and a manifest, in one ZIP file that
    `fpic audit verify FILE` checks."""
    summary = Summary()
    partial = output.with_name(output.name + ".partial")
    community_id = _community_asked(ctx, community, case_id)
    with ctx.db.read_session() as session:
        if case_id is not None and session.get(Case, case_id) is None:
            raise click.ClickException(_("There is no case %(case)s.", case=case_id))
        total = (
            listed_size(session, case_id)
            if community_id is None
            else sum(listed_size(session, c) for c in _case_ids(session, community_id))
        )
        try:
            with (
                partial.open("wb") as out,
                click.progressbar(length=total, label=_("Bundling"), file=sys.stderr) as bar,
            ):
                done = 0
                for written in write_bundle(
                    session, out, _rows_asked(session, case_id, community_id), case_id=case_id,
                    now=SystemClock().now(), summary=summary,
                    may_see=lambda _listing: include_confidential,
                ):  # fmt: skip
                    bar.update(written - done)
                    done = written
        except BundleError as exc:
            partial.unlink(missing_ok=True)
            raise click.ClickException(str(exc)) from exc
        except BaseException:
            partial.unlink(missing_ok=True)  # nothing half-written is left behind
            raise
    partial.replace(output)  # never leave a half-written bundle under the real name
    click.echo(
        _(
            "Bundle written to %(file)s: %(events)s events, %(files)s files (%(size)s bytes), "
            "%(withheld)s withheld as confidential.",
            file=str(output),
            events=summary.events,
            files=summary.files,
            size=summary.size,
            withheld=summary.withheld,
        ),
        err=True,
    )


def _rows_asked(session: Session, case_id: int | None, community_id: int | None) -> Any:
    """Every chain, one case's, or each whole chain of one community's cases."""
    if community_id is not None:
        return community_chains(session, community_id)
    return audit.export_rows(session, case_id)


def _case_ids(session: Session, community_id: int) -> list[int]:
    return list(session.scalars(select(Case.id).where(Case.community_id == community_id)))


@audit_group.command("head")
@pass_context
def audit_head(ctx: Context) -> None:
    """Print the trail head: one digest over every chain head but the access chain's (sign-ins),
    to keep outside the system."""
    with ctx.db.read_session() as session:
        heads = audit.kept_heads(audit.stored_heads(session))
    events = sum(seq for seq, _ in heads.values())
    click.echo(
        audit.trail_head(heads)
        + "  "
        + _("(%(chains)s chains, %(events)s events)", chains=len(heads), events=events)
    )


@main.group("user")
def user_group() -> None:
    """Manage users."""


@user_group.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option(
    "--representative-id",
    type=int,
    default=None,
    help="For a representative: the registered representative this account is.",
)
@click.option("--display-name", default=None)
@click.option("--email", default=None, help="Where the person's notifications go (optional).")
@click.option(
    "--by",
    "by",
    default=None,
    help="The administrator adding the user (not needed for the very first admin).",
)
@click.option(
    "--password",
    default=None,
    help="Only for the very first administrator (asked for when not given).",
)
@pass_context
def user_add(
    ctx: Context,
    username: str,
    role: str,
    representative_id: int | None,
    display_name: str | None,
    email: str | None,
    by: str | None,
    password: str | None,
) -> None:
    """Add a user; the change is an event on the system chain. The very first administrator
    chooses a password here; everyone else gets a one-time code to choose their own."""
    from fpic.accounts.registry import add_user, bootstrap_admin

    upgrade(ctx.db.engine)
    engine = ctx.engine()
    try:
        with ctx.db.read_session() as session:
            has_users = session.scalar(select(func.count()).select_from(User)) or 0
            actor = user_actor(session, by) if by else None
        if actor is None and has_users:
            raise click.UsageError(_("--by ADMIN is required once the database has users."))
        if actor is not None and password is not None:
            raise click.UsageError(
                _(
                    "Nobody sets another person's password: the new user gets a one-time code "
                    "and chooses their own. Leave out --password."
                )
            )
        if actor is None:
            if role not in USER_ADMIN_ROLES:
                raise click.UsageError(_("The first user must be an administrator (--role admin)."))
            if email:
                raise click.UsageError(
                    _("The first administrator sets their e-mail address in their settings.")
                )
            bootstrap_admin(engine, username, password or _new_password())
            click.echo(_("User %(name)s added as %(role)s.", name=username, role=role))
            return
        issued = add_user(
            engine,
            actor,
            username=username,
            role=role,
            display_name=display_name,
            representative_id=representative_id,
            email=email,
        )
    except FpicError as error:
        _fail(error)
    click.echo(_("User %(name)s added as %(role)s.", name=username, role=role))
    _show_code(issued)


def _new_password() -> str:
    return str(
        os.environ.get("FPIC_NEW_PASSWORD")
        or click.prompt(_("Password"), hide_input=True, confirmation_prompt=True)
    )


def _show_code(issued: Any) -> None:
    click.echo(
        _(
            "One-time enrolment code for %(name)s: %(code)s (valid until %(until)s). Give it to "
            "the person only; with it they choose their own password (fpic user enrol, or "
            "the enrolment page). It is not shown again.",
            name=issued.username,
            code=issued.code,
            until=issued.expires_at.strftime("%Y-%m-%d %H:%M UTC"),
        )
    )


@user_group.command("reset")
@click.argument("username")
@click.option("--by", "by", required=True, help="The administrator resetting the account.")
@pass_context
def user_reset(ctx: Context, username: str, by: str) -> None:
    """End an account's password and sessions and issue a new one-time code (on the trail,
    and on the community's page for a representative)."""
    from fpic.accounts.registry import reset_account

    engine = ctx.engine()
    try:
        with ctx.db.read_session() as session:
            actor = user_actor(session, by)
            user_id = session.scalar(select(User.id).where(User.username == username))
        if user_id is None:
            raise click.UsageError(_("There is no user %(name)s.", name=username))
        issued = reset_account(engine, actor, user_id)
    except FpicError as error:
        _fail(error)
    _show_code(issued)


@user_group.command("enrol")
@click.argument("username")
@pass_context
def user_enrol(ctx: Context, username: str) -> None:
    """Choose your own password with the one-time code you were given."""
    from fpic.accounts.sessions import enrol

    code = os.environ.get("FPIC_ENROLMENT_CODE") or click.prompt(_("Enrolment code"))
    try:
        enrol(ctx.engine(), username, code, _new_password())
    except FpicError as error:
        _fail(error)
    click.echo(_("Password chosen; you can sign in as %(name)s.", name=username))


@main.group("areas")
def areas_group() -> None:
    """Reference datasets of protected areas, critical habitat and Key Biodiversity Areas."""


@areas_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--kind",
    type=click.Choice(AREA_KINDS),
    default="protected_area",
    show_default=True,
    help="What the dataset holds.",
)
@click.option(
    "--source",
    required=True,
    help='Who publishes it, e.g. "UNEP-WCMC and IUCN, World Database on Protected Areas".',
)
@click.option(
    "--version", "version", required=True, help='The publisher\'s version or date, e.g. "2026-11".'
)
@click.option("--by", "by", required=True, help="The administrator importing it.")
@pass_context
def areas_import(ctx: Context, file: Path, kind: str, source: str, version: str, by: str) -> None:
    """Import FILE (GeoJSON, a zipped shapefile or a .shp beside its .shx and .dbf) with the
    World Database on Protected Areas' fields (WDPA_PID or WDPAID, NAME, IUCN_CAT, DESIG_ENG,
    STATUS). Rows that cannot be used are reported and skipped; importing the same file for
    the same version again changes nothing. Recorded on the system chain with the file's
    SHA-256."""
    from fpic.accounts.registry import import_areas
    from fpic.geo.reference import DatasetRefused, count_features

    upgrade(ctx.db.engine)
    engine = ctx.engine()
    try:
        actor = ctx.actor(by)
        total = count_features(file)
        with click.progressbar(length=total, label=_("Importing"), file=sys.stderr) as bar:
            done = [0]

            def advance(row: int) -> None:
                bar.update(row - done[0])
                done[0] = row

            imported = import_areas(
                engine, actor, file, kind=kind, source=source, version=version, progress=advance
            )
    except DatasetRefused as refused:
        raise click.ClickException(_reason_text(refused.reason)) from None
    except FpicError as error:
        _fail(error)
    if imported.already:
        click.echo(
            _(
                "Version %(version)s of %(source)s was imported from this file before; nothing "
                "changed.",
                version=version,
                source=source,
            )
        )
        return
    for skipped in imported.skipped:
        click.echo(
            _(
                "Row %(row)s skipped: %(reason)s",
                row=skipped.row,
                reason=_reason_text(skipped.reason),
            ),
            err=True,
        )
    click.echo(
        _(
            "Imported %(kept)s areas (%(repaired)s repaired), skipped %(skipped)s; SHA-256 "
            "%(sha256)s.",
            kept=imported.features,
            repaired=imported.repaired,
            skipped=len(imported.skipped),
            sha256=imported.sha256,
        )
    )


@main.group("legacy-sites")
def legacy_sites_group() -> None:
    """The register of legacy (abandoned or orphaned) mine sites."""


@legacy_sites_group.command("add")
@click.option("--slug", required=True, help="Its short name in addresses: a-z, 0-9, - and _.")
@click.option("--name", required=True)
@click.option("--country", required=True, help="ISO 3166-1 alpha-2 code, e.g. PE.")
@click.option("--former-operator", required=True, help="Who worked it, as known.")
@click.option("--worked", default="", help='When, as known, e.g. "1952-1978".')
@click.option("--hazard", "hazards", multiple=True, help="A hazard it left (repeat the option).")
@click.option("--state", "current_state", required=True, help="How the site stands now.")
@click.option(
    "--location",
    required=True,
    help='"longitude, latitude" of a point, corners separated by ";", or a GeoJSON geometry.',
)
@click.option(
    "--community", "communities", multiple=True, help="The slug of a community around it."
)
@click.option("--by", "by", required=True, help="The liaison officer or administrator.")
@pass_context
def legacy_sites_add(ctx: Context, /, by: str, **data: Any) -> None:
    """Register a legacy mine site; the change is an event on the system chain."""
    from fpic.accounts.registry import add_legacy_site

    upgrade(ctx.db.engine)
    engine = ctx.engine()
    data = {**data, "hazards": list(data["hazards"]), "communities": list(data["communities"])}
    data["location"] = data["location"].replace(";", "\n")
    try:
        add_legacy_site(engine, ctx.actor(by), data)
    except FpicError as error:
        _fail(error)
    click.echo(_("Legacy site %(slug)s registered.", slug=data["slug"]))


def _time_zone(ctx: click.Context, param: click.Parameter, value: str) -> ZoneInfo:
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(
            _("%(zone)s is not a time zone name, e.g. America/Lima.", zone=value)
        ) from None


@main.command()
@click.option("--days", default=14, show_default=True, help="Also list what is due this soon.")
@click.option(
    "--time-zone", "zone", default="UTC", show_default=True, callback=_time_zone,
    help="The IANA time zone whose today the dates are counted from, e.g. America/Lima.",
)  # fmt: skip
@pass_context
def deadlines(ctx: Context, days: int, zone: ZoneInfo) -> None:
    """What is due or overdue: stage plans, deliberation periods, windows, conditions, mandates.

    Deadlines are shown, never acted on: none of them moves a case.
    """
    from fpic.read.deadlines import deadlines as due_items

    now = SystemClock().now().astimezone(zone)
    with ctx.db.read_session() as session:
        items = due_items(session, now, horizon_days=days)
    if not items:
        click.echo(_("Nothing due in the next %(days)s days.", days=days))
        return
    for item in items:
        state = _("OVERDUE") if item.overdue_on(now.date()) else _("due")
        try:
            text = _(item.message, **item.params)
        except (KeyError, ValueError, TypeError):
            text = item.render()
        click.echo(f"{state:<8} {item.due.isoformat()}  {text}")


@main.command("consents-expire")
@click.option("--by", required=True, help="The account that records it (a liaison officer, a "
              "State authority or a community representative).")  # fmt: skip
@pass_context
def consents_expire(ctx: Context, by: str) -> None:
    """Record the end of each consent's term that has passed (run it daily, like `deadlines`).

    The case goes back to disclosure, where the community decides again; no activity may start
    under the consent after its term, whether or not this has run.
    """
    from fpic.read.deadlines import consents_past_their_term

    engine, actor = ctx.engine(), ctx.actor(by)
    today = engine.clock.now().date()
    with ctx.db.read_session() as session:
        due = [(case.id, case.reference, ended) for case, ended in
               consents_past_their_term(session, today)]  # fmt: skip
    if not due:
        click.echo(_("No consent has passed its term."))
        return
    refused = 0
    for case_id, reference, ended in due:
        try:
            result = _record_expiry(engine, actor, case_id, ended)
        except FpicError as error:  # said, recorded by the engine, and the others still done
            refused += 1
            click.echo(f"{reference}: {_(error.reasons[0].message, **error.reasons[0].params)}",
                       err=True)  # fmt: skip
            continue
        click.echo(
            _(
                "%(case)s: the consent's term ended on %(day)s; the case is back at %(stage)s.",
                case=reference, day=ended.isoformat(), stage=result.stage,
            )
        )  # fmt: skip
    if refused:
        sys.exit(1)


def _record_expiry(engine: Engine, actor: Actor, case_id: int, ended: date) -> Any:
    with engine.db.read_session() as session:
        case = engine.case_for(session, case_id, actor)
        template, version = engine.template_of(case), case.version
        trigger = next(
            t.name for t in template.triggers_from(case.stage) if t.effect == "reconsent_event"
        )
    data = {
        "event": "expiry",
        "happened_on": (ended + timedelta(days=1)).isoformat(),
        "text": f"The term of the community's consent ended on {ended.isoformat()}.",
    }
    return engine.advance(case_id, trigger, actor, data, version)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int)
@click.option("--demo", "with_demo", is_flag=True, help="Seed the demo data first (once).")
@pass_context
def serve(ctx: Context, host: str, port: int, workers: int, with_demo: bool) -> None:
    """Run the web interface (gunicorn; the same app as `gunicorn web.wsgi:app`)."""
    import os
    import secrets

    from gunicorn.app.base import BaseApplication

    # production unless the environment says otherwise (Secure cookies, a secret key that
    # must be given), as under gunicorn; only the demo keeps development conveniences
    mode = os.environ.get("FPIC_ENV") or ("development" if with_demo else "production")
    os.environ["FPIC_ENV"] = mode
    if not os.environ.get("FPIC_SECRET_KEY"):
        if mode == "production":
            raise click.ClickException(_("FPIC_SECRET_KEY must be set in production."))
        # one key for every worker of this run, so a session works whichever worker answers
        os.environ["FPIC_SECRET_KEY"] = secrets.token_hex(32)
    upgrade(ctx.db.engine)
    if with_demo:
        click.get_current_context().invoke(demo, quiet=True)
    if ctx.url:
        os.environ["FPIC_DATABASE_URL"] = ctx.url

    from web import create_app

    class Server(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("threads", 4)
            self.cfg.set("accesslog", "-")

        def load(self) -> Any:
            return create_app()

    if mode != "production":
        click.echo(
            _(
                "Development mode: session cookies are not marked Secure and the secret key "
                "lasts only this run. Fine for the demo; for real data run without --demo "
                "(production is the default) and set FPIC_SECRET_KEY."
            )
        )
    click.echo(_("fpic is running at %(url)s (Ctrl+C stops it)", url=f"http://{host}:{port}/"))
    Server().run()


for command in (
    cli_log.audit_key,
    cli_log.audit_checkpoint,
    cli_log.audit_prove,
    cli_log.audit_verify_receipt,
):
    audit_group.add_command(command)
main.add_command(cli_log.witness_group)
main.add_command(cli_notify.notify)
main.add_command(cli_registry.community_group)
main.add_command(cli_registry.project_group)


if __name__ == "__main__":
    main()
