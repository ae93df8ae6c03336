"""``heaven jobs``: the listing, printed as JSON, as a Rich table on a terminal, or as plain
aligned columns (the same columns and cells) when the output goes to a pipe or a file.

Standard library only at import (Rich is imported for a terminal alone): heaven.cli.quick
answers ``heaven jobs`` with this module before the Typer CLI is even imported.
"""
from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from heaven.client.http import Client

JOB_COLUMNS = ("ID", "NAME", "STATE", "CORES", "NODE", "LOCAL", "CPU%", "SUBMITTED", "REASON")
LIMIT_RANGE = (1, 10000)  # heaven jobs --limit
DEFAULT_LIMIT, DEFAULT_PAGE = 50, 1000  # one listing; with --all, per page


def cores_text(cores: list[int]) -> str:
    return ",".join(map(str, cores)) if cores else "-"


def clock(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%H:%M:%S", time.localtime(ts))


def job_cells(j: dict) -> list[str]:
    """One job's row, in JOB_COLUMNS' order (the Rich table colours the state)."""
    cpu = "-" if j["cpu_percent"] is None else f"{j['cpu_percent']:.0f}"
    return [str(j["id"]), j["name"], j["state"], str(j["cores_requested"]), j["node"] or "-",
            cores_text(j["local_cores"]), cpu, clock(j["submitted_at"]), j["reason"] or ""]


def plain_table(headers: tuple[str, ...], rows: list[list[str]]) -> str:
    """Left-aligned columns two spaces apart (as kubectl prints), no trailing blanks."""
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows)]
    return "".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() + "\n"
                   for row in [list(headers), *rows])


def write_jobs(jobs: list[dict], as_json: bool, stream: TextIO | None = None) -> None:
    """``--json``: as ``heaven.cli.common.emit`` writes it; otherwise a table."""
    stream = stream or sys.stdout
    if as_json:
        stream.write(json.dumps(jobs, indent=2) + "\n")
    elif stream.isatty():
        from heaven.cli import render
        from heaven.cli.common import out

        out.print(render.jobs_table(jobs))
    else:
        stream.write(plain_table(JOB_COLUMNS, [job_cells(j) for j in jobs]))


def list_jobs(client: Client, states: list[str] | None, limit: int | None, every: bool, as_json: bool) -> None:
    """What ``heaven jobs`` prints (heaven.cli.main declares its options, heaven.cli.quick reads them too)."""
    if not every:
        write_jobs(client.jobs(states, limit or DEFAULT_LIMIT), as_json)
        return
    # Streamed: each page is printed when it arrives (JSON: one job per line, as jq -c reads it).
    for page in client.pages("jobs", {"state": states or []}, limit=limit or DEFAULT_PAGE):
        if as_json:
            sys.stdout.write("".join(json.dumps(j) + "\n" for j in page))
        elif page:
            write_jobs(page, False)
