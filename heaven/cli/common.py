"""What every CLI command shares: the consoles, the client, ``--json`` and error reporting."""
from __future__ import annotations

import functools
import json
import sys
from typing import Annotated

import typer
from rich.console import Console

from typing import TYPE_CHECKING

from heaven.client.errors import ClientError
from heaven.client.settings import ClientSettings

if TYPE_CHECKING:
    from heaven.client.http import Client

out = Console()
err = Console(stderr=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]
_controller: str | None = None  # this run's ``heaven --controller``, set by the root command (heaven.cli.main)


def use_controller(urls: str | None) -> None:
    global _controller
    _controller = urls


def given_controller() -> str | None:
    return _controller


def settings() -> ClientSettings:
    """The controller of ``heaven --controller``, else HEAVEN_URL; HEAVEN_TOKEN."""
    return ClientSettings.given(_controller)


def connect(url: str, **options) -> Client:
    """A client of ``url`` (heaven.client.quick: its plain GETs need no httpx)."""
    from heaven.client.quick import QuickClient

    return QuickClient(url, **options)


def client() -> Client:
    """The controller of ``settings()``, with HEAVEN_TOKEN or the token ``heaven login`` stored for it."""
    chosen = settings()
    return connect(chosen.url, token=chosen.token)


def reports_errors(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ClientError as exc:
            err.print(f"[red]error:[/red] {exc.message}", highlight=False, soft_wrap=True)  # one line
            raise typer.Exit(1) from None
    return wrapper


def emit(data, as_json: bool, table) -> None:
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        out.print(table(data))
