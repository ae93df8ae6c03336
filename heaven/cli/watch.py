"""``heaven watch``: a live view of the queue, the running jobs and the nodes (Rich Live),
read again every ``--interval`` seconds until Ctrl-C, which ends it cleanly (exit 0)."""
from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.console import Group
from rich.table import Table

from heaven.cli import render
from heaven.cli.common import client, out, reports_errors
from heaven.cli.nodes import HOLDING, list_table, node_stats


def queue_table(pending: list[dict]) -> Table:
    table = Table("POS", "ID", "NAME", "CORES", "PRIORITY", "WAITING", "REASON",
                  title=f"Queue ({len(pending)})", title_justify="left")
    now = time.time()
    for j in sorted(pending, key=lambda j: (j["queue_position"] is None, j["queue_position"] or 0, j["id"])):
        table.add_row(str(j["queue_position"] or "-"), str(j["id"]), j["name"], str(j["cores_requested"]),
                      str(j["priority"]), f"{now - j['submitted_at']:.0f}s", j["reason"] or "")
    return table


def view(c, limit: int) -> Group:
    """One frame: what waits, what runs, and the nodes (at most ``limit`` jobs of each)."""
    pending = c.jobs(["pending"], limit)
    holding = c.jobs(list(HOLDING), limit)
    nodes = c.nodes()
    now = time.time()
    running = render.jobs_table(holding)
    running.title, running.title_justify = f"Running ({len(holding)})", "left"
    stamp = time.strftime("%H:%M:%S", time.localtime(now))
    nodes_table = list_table([node_stats(n, holding, now) for n in nodes])
    nodes_table.title, nodes_table.title_justify = f"Nodes ({len(nodes)}) at {stamp}, Ctrl-C to quit", "left"
    return Group(queue_table(pending), running, nodes_table)


@reports_errors
def watch(
    interval: Annotated[float, typer.Option(min=0.2, help="seconds between refreshes")] = 1.0,
    limit: Annotated[int, typer.Option(min=1, max=10000, help="at most this many queued and running jobs")] = 50,
    once: Annotated[bool, typer.Option("--once", help="print one frame and exit")] = False,
) -> None:
    """A live view of the queue, the running jobs and the nodes."""
    from rich.live import Live  # only this command needs it

    c = client()
    if once:
        out.print(view(c, limit))
        return
    try:
        if not out.is_terminal:  # a pipe or a file: Live would draw nothing until the end
            while True:
                out.print(view(c, limit))
                out.file.flush()
                time.sleep(interval)
        with Live(view(c, limit), console=out, screen=False, auto_refresh=False) as live:
            while True:
                time.sleep(interval)
                live.update(view(c, limit), refresh=True)
    except KeyboardInterrupt:
        pass
