"""``heaven org create|list|show|invite|join|members``."""
from __future__ import annotations

from typing import Annotated

import typer

from heaven.cli import render
from heaven.cli.common import JsonFlag, client, emit, reports_errors

app = typer.Typer(help="Organizations: create, join with an invite code, see members.", no_args_is_help=True)
OrgId = Annotated[int, typer.Argument(help="organization id (heaven org list)")]


@app.command()
@reports_errors
def create(name: Annotated[str, typer.Argument(help="a name, unique on this controller")], as_json: JsonFlag = False) -> None:
    """Create an organization; you become its owner."""
    emit(client().create_organization(name), as_json, render.org_panel)


@app.command("list")
@reports_errors
def listing(as_json: JsonFlag = False) -> None:
    """The organizations you belong to, with your role."""
    emit(client().organizations(), as_json, render.orgs_table)


@app.command()
@reports_errors
def show(org_id: OrgId, as_json: JsonFlag = False) -> None:
    """One organization (owners and admins see its invite code)."""
    emit(client().organization(org_id), as_json, render.org_panel)


@app.command()
@reports_errors
def invite(
    org_id: OrgId,
    regenerate: Annotated[bool, typer.Option("--regenerate", help="make a new code; the old one stops working")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Print the invite code to give to people who should join (owners and admins)."""
    c = client()
    org = c.regenerate_invite(org_id) if regenerate else c.organization(org_id)
    if org["invite_code"] is None:
        org = c.regenerate_invite(org_id)  # answers 403 with the reason: only admins see codes
    emit({"id": org["id"], "name": org["name"], "invite_code": org["invite_code"]}, as_json,
         lambda o: f"{o['invite_code']}\n(heaven org join {o['invite_code']})")


@app.command()
@reports_errors
def join(invite_code: Annotated[str, typer.Argument(help="the code an owner or admin gave you")],
         as_json: JsonFlag = False) -> None:
    """Join an organization as a member."""
    emit(client().join_organization(invite_code), as_json, render.org_panel)


@app.command()
@reports_errors
def members(org_id: OrgId, as_json: JsonFlag = False) -> None:
    """Who belongs to the organization, and their roles."""
    emit(client().members(org_id), as_json, render.members_table)
