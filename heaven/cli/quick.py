"""A plain ``heaven [--controller URL] jobs [--state S]... [--limit N] [--all] [--json]``,
answered without building the Typer CLI.

Building it (Typer, every command's module, pydantic for Typer's parameter coercion)
cost several times what the listing itself costs, so the ``heaven`` executable
(heaven.entry) asks this module first. It takes only a command line it reads exactly as
Typer would: anything else (``--help``, a value that is not a plain number, an unknown
option, shell completion, a bad ``--controller``) gets None, and the Typer CLI answers it,
with its own messages. What is printed is heaven.cli.listing's, as ``heaven jobs`` prints it.
"""
from __future__ import annotations

import os
import sys
from types import SimpleNamespace

from heaven.cli import listing
from heaven.client.errors import ClientError
from heaven.client.settings import ClientSettings, controller_problem

COMPLETION_VARIABLE = "_HEAVEN_COMPLETE"  # set by the shell's completion script: Typer's to answer
VALUED = {"--state", "--limit"}
FLAGS = {"--all": "every", "--json": "as_json"}
RED_ERROR = "\x1b[31merror:\x1b[0m"  # as Rich writes reports_errors' "[red]error:[/red]" on a terminal


def Listing(**given) -> SimpleNamespace:  # noqa: N802 (reads as the record it makes)
    """What a listing asks for (a namespace, not a dataclass: see heaven.client.settings)."""
    return SimpleNamespace(**{"controller": None, "states": [], "limit": None, "every": False, "as_json": False,
                              **given})


def _options(args: list[str]) -> list[tuple[str, str | None]] | None:
    """``--name value``, ``--name=value`` and flags, in order; None for anything else."""
    found, rest = [], list(args)
    while rest:
        arg = rest.pop(0)
        name, eq, value = arg.partition("=")
        if name in VALUED:
            if not eq:
                if not rest:
                    return None
                value = rest.pop(0)
            if value.startswith("-"):  # Typer may read it as the value or as an option: let it say
                return None
            found.append((name, value))
        elif name in FLAGS and not eq:
            found.append((name, None))
        else:
            return None
    return found


def parse(argv: list[str]) -> SimpleNamespace | None:
    """The listing ``argv`` asks for, or None when it is not one this module answers."""
    asked, rest = Listing(), list(argv)
    if rest and rest[0].partition("=")[0] == "--controller":
        name, eq, value = rest.pop(0).partition("=")
        if not eq:
            if not rest:
                return None
            value = rest.pop(0)
        if controller_problem(value):
            return None
        asked.controller = value
    if not rest or rest[0] != "jobs":
        return None
    options = _options(rest[1:])
    if options is None:
        return None
    for name, value in options:
        if name == "--state":
            asked.states.append(value)
        elif name == "--limit":
            low, high = listing.LIMIT_RANGE
            if not (value.isascii() and value.isdigit() and low <= int(value) <= high):
                return None
            asked.limit = int(value)
        else:
            setattr(asked, FLAGS[name], True)
    return asked


def answer(argv: list[str]) -> int | None:
    """Run ``argv`` if it is a plain listing and return its exit code; None: Typer's to run."""
    if COMPLETION_VARIABLE in os.environ:
        return None
    asked = parse(argv)
    if asked is None:
        return None
    from heaven.client.quick import QuickClient

    chosen = ClientSettings.given(asked.controller)
    try:
        client = QuickClient(chosen.url, token=chosen.token)
        listing.list_jobs(client, asked.states or None, asked.limit, asked.every, asked.as_json)
    except ClientError as exc:
        red = sys.stderr.isatty() and "NO_COLOR" not in os.environ
        sys.stderr.write(f"{RED_ERROR if red else 'error:'} {exc.message}\n")  # as reports_errors
        return 1
    except BrokenPipeError:  # `heaven jobs | head`: the reader left, as Click ends it (quietly, 1)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 1
    except KeyboardInterrupt:  # Ctrl-C: Click's "Aborted!", never a traceback
        sys.stderr.write("\nAborted!\n")
        return 1
    return 0
