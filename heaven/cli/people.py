"""``heaven login``, ``logout``, ``whoami`` and ``heaven token create|list|revoke``.

``login`` trades a password for a short-lived access token, uses it once to make
an API token named after this host, stores that (mode 0600, keyed by controller
URL) and revokes the access token: what stays on disk can be listed and revoked
by name, and no password is ever written anywhere.
"""
from __future__ import annotations

import json
import re
import socket
import sys
from typing import Annotated

import typer

from heaven.cli import render
from heaven.cli.common import JsonFlag, client, connect, emit, err, out, reports_errors, settings
from heaven.client import credentials
from heaven.client.errors import ClientError

tokens = typer.Typer(help="API tokens for scripts and other machines.", no_args_is_help=True)


def _token_name() -> str:
    return ("cli@" + re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname()))[:100]


@reports_errors
def login(
    username: Annotated[str | None, typer.Option(help="your username (prompted for when absent)")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="read the password from standard input")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Log in and keep an API token for this controller (--controller, else HEAVEN_URL)."""
    url = settings().url
    username = username or typer.prompt("username")
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else typer.prompt("password", hide_input=True)
    access = connect(url, use_stored=False).password_login(username, password)["access_token"]
    session = connect(url, token=access)
    created = session.create_token(_token_name())
    previous = credentials.stored(url)
    path = credentials.save(url, {"token": created["token"], "token_id": created["id"], "username": username.lower(),
                                  "name": created["name"]})
    try:
        session.logout()  # the access token did its one job
    except ClientError:
        pass  # it expires within minutes anyway
    if previous:  # the token of an earlier login is replaced: do not leave it valid
        try:
            connect(url, token=previous["token"]).logout()
        except ClientError:
            pass  # already revoked, or the controller forgot it
    if as_json:
        sys.stdout.write(json.dumps({"url": url, "username": username.lower(), "token_id": created["id"],
                                     "token_name": created["name"], "credentials": str(path)}, indent=2) + "\n")
    else:
        out.print(f"Logged in to {url} as {username.lower()}; API token {created['name']} stored in {path}",
                  highlight=False)


def logout(as_json: JsonFlag = False) -> None:
    """Revoke the stored API token for this controller and forget it."""
    url = settings().url
    entry = credentials.stored(url)
    if entry is None:
        err.print(f"[red]error:[/red] not logged in to {url}", highlight=False)
        raise typer.Exit(1)
    note = "revoked"
    try:
        connect(url, token=entry["token"]).logout()
    except ClientError as exc:
        if exc.status != 401:  # a 401 means it was revoked already
            note = f"NOT revoked ({exc.message}); revoke token {entry.get('token_id')} later"
    credentials.forget(url)
    if as_json:
        sys.stdout.write(json.dumps({"url": url, "revoked": note == "revoked"}) + "\n")
    else:
        out.print(f"Logged out of {url}: token {entry.get('name', '')} {note}", highlight=False)


@reports_errors
def whoami(as_json: JsonFlag = False) -> None:
    """Who the stored token (or HEAVEN_TOKEN) belongs to."""
    emit(client().me(), as_json, lambda p: f"{p['username']} <{p['email']}> (person {p['id']})")


@tokens.command("create")
@reports_errors
def token_create(
    name: Annotated[str, typer.Argument(help="what the token is for, e.g. ci-runner")],
    days: Annotated[int | None, typer.Option(min=1, max=3650, help="expires after this many days (default: never)")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Make an API token; its secret is printed this once."""
    created = client().create_token(name, days)
    if as_json:
        sys.stdout.write(json.dumps(created, indent=2) + "\n")
    else:
        sys.stdout.write(created["token"] + "\n")
        err.print(f"token {created['id']} ({name}): keep it now, it is not shown again", highlight=False)


@tokens.command("list")
@reports_errors
def token_list(as_json: JsonFlag = False) -> None:
    """Your API tokens (names and dates, never the secrets)."""
    emit(client().tokens(), as_json, render.tokens_table)


@tokens.command("revoke")
@reports_errors
def token_revoke(token_id: Annotated[int, typer.Argument(help="token id (heaven token list)")],
                 as_json: JsonFlag = False) -> None:
    """Revoke an API token: it stops working at once."""
    client().revoke_token(token_id)
    emit({"id": token_id, "revoked": True}, as_json, lambda t: f"token {t['id']} revoked")
