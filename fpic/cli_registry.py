"""The commands of the register: communities and projects added, changed and listed.

Each change is the engine's (fpic.accounts.registry), made as the account ``--by`` names, so
the command line may do exactly what that person may do in the interface: a community's entry
is changed only by its mandated representative or the facilitator of one of its cases, a
project by the proponent's liaison or the administrator. Every change is an event on the
system chain; a change that changes nothing writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click
from sqlalchemy import select

from fpic.cli_base import Context, _, _reason_text, pass_context
from fpic.i18n import Reason
from fpic.storage.migrate import upgrade
from fpic.storage.models import Community, Project
from fpic.workflow.errors import FpicError

F = TypeVar("F", bound=Callable[..., Any])

#: the option (or argument) that gives each field the engine may name in a refusal
OPTIONS = {
    "content_languages": "--language",
    "phases": "--phase",
    "activities": "--activity",
    "current_state": "--state",
    "community_id": "SLUG",
    "project_id": "PROJECT_ID",
}


def _option(field: str) -> str:
    return OPTIONS.get(field, "--" + field.replace("_", "-"))


def _fail(error: FpicError) -> NoReturn:
    """The engine's refusal, each field called by the option that gives it; exit status 1."""
    reasons = [
        Reason(r.code, r.message, {**r.params, "field": _option(str(r.params["field"]))})
        if "field" in r.params
        else r
        for r in error.reasons
    ]
    raise click.ClickException("; ".join(_reason_text(r) for r in reasons))


def _given(**options: Any) -> dict[str, Any]:
    """The options given on the command line (the fields to change), lists as lists."""
    return {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in options.items()
        if value is not None and value != ()
    }


def _say_changes(what: str, changes: dict[str, dict[str, Any]]) -> None:
    if not changes:
        click.echo(_("%(entry)s: nothing changed, the entry already says this.", entry=what))
        return
    click.echo(_("%(entry)s changed:", entry=what))
    for key, change in changes.items():
        click.echo(f"  {_option(key)}: {_shown(change['from'])} → {_shown(change['to'])}")


def _shown(value: Any) -> str:
    if value is None or value in ("", []):
        return "—"
    return ", ".join(value) if isinstance(value, list) else str(value)


# --- communities -------------------------------------------------------------------------------


@click.group("community")
def community_group() -> None:
    """The register of communities: register one, change its entry, list them."""


_LANGUAGE_HELP = "A language the community asks to be informed in, by its ISO 639 code, e.g. qu "


@community_group.command("add")
@click.option("--slug", required=True, help="Its short name in addresses: a-z, 0-9, - and _.")
@click.option("--name", required=True)
@click.option("--region", required=True)
@click.option("--country", required=True, help="ISO 3166-1 alpha-2 code, e.g. PE.")
@click.option(
    "--institution",
    required=True,
    help="The community's own institution that appoints its representatives and decides.",
)
@click.option(
    "--language", "content_languages", multiple=True, required=True,
    help=_LANGUAGE_HELP + "(repeat the option).",
)  # fmt: skip
@click.option("--by", "by", required=True, help="Who registers it: a liaison officer, a "
              "facilitator, a State authority or the administrator.")  # fmt: skip
@pass_context
def community_add(ctx: Context, /, by: str, **data: Any) -> None:
    """Register (propose) a community; it confers no mandate. The change is an event on the
    system chain."""
    from fpic.accounts.registry import add_community

    upgrade(ctx.db.engine)
    try:
        add_community(ctx.engine(), ctx.actor(by), _given(**data))
    except FpicError as error:
        _fail(error)
    click.echo(_("Community %(slug)s registered.", slug=data["slug"]))


@community_group.command("edit")
@click.argument("slug")
@click.option("--name")
@click.option("--region")
@click.option("--country", help="ISO 3166-1 alpha-2 code, e.g. PE.")
@click.option("--institution", help="The community's own institution.")
@click.option(
    "--language", "content_languages", multiple=True,
    help=_LANGUAGE_HELP + "(repeat the option; the languages given replace the list).",
)  # fmt: skip
@click.option("--by", "by", required=True, help="The community's mandated representative, or "
              "the facilitator of one of its cases.")  # fmt: skip
@pass_context
def community_edit(ctx: Context, /, slug: str, by: str, **data: Any) -> None:
    """Change a community's entry: only the options given change. Only the community's side may
    (its mandated representative, or the facilitator of one of its cases); the change is an
    event on the system chain, with each field's old and new value."""
    from fpic.accounts.registry import edit_community

    upgrade(ctx.db.engine)
    with ctx.db.read_session() as session:
        community_id = session.scalar(select(Community.id).where(Community.slug == slug))
    if community_id is None:
        raise click.ClickException(_("There is no community %(slug)s.", slug=slug))
    try:
        changes = edit_community(ctx.engine(), ctx.actor(by), community_id, _given(**data))
    except FpicError as error:
        _fail(error)
    _say_changes(slug, changes)


@community_group.command("list")
@pass_context
def community_list(ctx: Context) -> None:
    """Every community: its slug, name, country, institution and content languages."""
    with ctx.db.read_session() as session:
        rows = session.scalars(select(Community).order_by(Community.slug)).all()
        for c in rows:
            languages = ", ".join(c.content_languages or [])
            click.echo(f"{c.slug}\t{c.name}\t{c.country}\t{c.institution}\t{languages}")


# --- projects ----------------------------------------------------------------------------------


@click.group("project")
def project_group() -> None:
    """The register of projects: register one, change it, list them."""


def _project_options(required: bool) -> Callable[[F], F]:
    """The options of a project's fields; on ``add`` its name and proponent are required."""

    def decorate(command: F) -> F:
        for option in reversed([
            click.option("--name", required=required),
            click.option("--proponent", required=required,
                         help="The company or public body that plans it."),
            click.option("--description"),
            click.option("--sector", help="mining, oil_and_gas, infrastructure, energy, "
                         "agriculture_forestry, conservation, restoration or unspecified."),
            click.option("--phase", "phases", multiple=True,
                         help="A phase, e.g. exploration (repeat the option; on edit the phases "
                         'given replace the list, and --phase "" empties it).'),
            click.option("--activity", "activities", multiple=True,
                         help="An activity, e.g. drilling (repeat the option, as --phase)."),
            click.option("--design-freeze-on", help='YYYY-MM-DD ("" to clear it on edit).'),
            click.option("--permit-applied-on", help='YYYY-MM-DD ("" to clear it on edit).'),
        ]):  # fmt: skip
            command = option(command)
        return command

    return decorate


@project_group.command("add")
@_project_options(required=True)
@click.option("--legacy-site", help="The slug of the legacy mine site a restoration restores.")
@click.option("--by", "by", required=True, help="The liaison officer or administrator.")
@pass_context
def project_add(ctx: Context, /, by: str, **data: Any) -> None:
    """Register a project; the change is an event on the system chain."""
    from fpic.accounts.registry import add_project

    upgrade(ctx.db.engine)
    try:
        project_id = add_project(ctx.engine(), ctx.actor(by), _given(**data))
    except FpicError as error:
        _fail(error)
    click.echo(_("Project %(id)s registered: %(name)s.", id=project_id, name=data["name"]))


@project_group.command("edit")
@click.argument("project_id", type=click.IntRange(1, 2**31 - 1))
@_project_options(required=False)
@click.option("--by", "by", required=True, help="The liaison officer or administrator.")
@pass_context
def project_edit(ctx: Context, /, project_id: int, by: str, **data: Any) -> None:
    """Change a project: only the options given change. Once it has a case its sector stays
    and its phases and activities may only grow. The change is an event on the system chain,
    with each field's old and new value."""
    from fpic.accounts.registry import edit_project

    upgrade(ctx.db.engine)
    try:
        changes = edit_project(ctx.engine(), ctx.actor(by), project_id, _given(**data))
    except FpicError as error:
        _fail(error)
    _say_changes(_("Project %(id)s", id=project_id), changes)


@project_group.command("list")
@pass_context
def project_list(ctx: Context) -> None:
    """Every project: its id (for ``fpic project edit``), name, proponent and sector."""
    with ctx.db.read_session() as session:
        for p in session.scalars(select(Project).order_by(Project.id)):
            click.echo(f"{p.id}\t{p.name}\t{p.proponent}\t{p.sector}")
