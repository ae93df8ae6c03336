"""``heaven report``: accounting over a period, as sreport/sacct give it (GET /api/v1/report).

``--since``/``--until`` take a date (2026-12-01), a date and time (2026-12-01T08:00, local
time), epoch seconds, or a span back from now (90m, 12h, 7d). ``--format`` table, csv or json;
``--by`` organization, person or job (table and csv; json always has all three). Used
core-seconds and peak memory are those of the measured runs (``MEASURED RUNS``): "-" in
the table, empty in csv and null in json where no run was measured.
"""
from __future__ import annotations

import csv
import datetime
import enum
import json
import re
import sys
import time
from typing import Annotated

import typer
from rich.table import Table

from heaven.cli.common import client, out, reports_errors

SPAN = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
COLUMNS = [("requested_core_seconds", "REQ CORE-S"), ("allocated_core_seconds", "ALLOC CORE-S"),
           ("used_core_seconds", "USED CORE-S"), ("measured_runs", "MEASURED RUNS"),
           ("peak_memory_mb", "PEAK MB"), ("requested_mb_seconds", "REQ MB-S"),
           ("allocated_mb_seconds", "ALLOC MB-S"), ("lent_core_seconds", "LENT CORE-S"),
           ("borrowed_core_seconds", "BORROWED CORE-S"), ("given_back_cores", "GIVEN BACK"),
           ("elapsed_seconds", "ELAPSED S")]


class Format(str, enum.Enum):
    table = "table"
    csv = "csv"
    json = "json"


class By(str, enum.Enum):
    organization = "organization"
    person = "person"
    job = "job"


def moment(text: str | None, now: float) -> float | None:
    """A point in time as the options take it (see the module docstring)."""
    if text is None:
        return None
    text = text.strip()
    if span := SPAN.fullmatch(text):
        return now - float(span[1]) * UNIT[span[2]]
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise typer.BadParameter(f"{text!r}: give a date (2026-12-01), a date and time (2026-12-01T08:00), "
                                 "epoch seconds, or a span back from now (90m, 12h, 7d)") from None


def rows(doc: dict, by: By) -> tuple[list[str], list[list]]:
    keys = {By.organization: ["name", "jobs"], By.person: ["org", "name", "jobs"],
            By.job: ["id", "name", "org", "owner", "state", "cores_requested", "memory_mb", "runs"]}[by]
    items = {By.organization: doc["organizations"], By.person: doc["people"], By.job: doc["jobs"]}[by]
    names = keys + [k for k, _ in COLUMNS]
    return names, [[item.get(k) for k in names] for item in items]


def _cell(value) -> str:
    if value is None:
        return "-"
    return f"{value:,.1f}" if isinstance(value, float) else str(value)


def table(doc: dict, by: By) -> Table:
    names, lines = rows(doc, by)
    span = " - ".join(time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) for t in (doc["since"], doc["until"]))
    headers = [n.upper().replace("_", " ") for n in names[:-len(COLUMNS)]] + [h for _, h in COLUMNS]
    t = Table(*headers, title=f"Usage by {by.value}, {span} (used: the measured runs only; - none measured)",
              title_justify="left")
    for line in lines:
        t.add_row(*(_cell(v) for v in line))
    total = doc["totals"]
    t.add_row(*(["[bold]all[/]"] + [""] * (len(names) - len(COLUMNS) - 1) + [_cell(total[k]) for k, _ in COLUMNS]))
    return t


@reports_errors
def report(
    since: Annotated[str | None, typer.Option(help="from (default: the beginning): 2026-12-01, 12h, epoch seconds")] = None,
    until: Annotated[str | None, typer.Option(help="until (default: now), same forms")] = None,
    by: Annotated[By, typer.Option(help="one line per organization, person or job")] = By.organization,
    fmt: Annotated[Format, typer.Option("--format", help="table, csv or json")] = Format.table,
) -> None:
    """Accounting: requested vs allocated vs used core-seconds, memory, lending and give-back."""
    now = time.time()
    doc = client().report(moment(since, now), moment(until, now))
    if fmt is Format.json:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    elif fmt is Format.csv:
        names, lines = rows(doc, by)
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(names)
        writer.writerows([["" if v is None else v for v in line] for line in lines])
    else:
        out.print(table(doc, by))
