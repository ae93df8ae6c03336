"""``heaven nodes [list]`` and ``heaven nodes stats NODE``: per resource total / allocated /
available, utilization, running jobs and last seen, laid out as ``scontrol show node`` and
``kubectl describe node`` do.

Allocated cores are what the controller has granted on the node (its claims); allocated
memory and GPUs are the requests of the jobs placed there (each gang part asks the same);
used figures are the jobs' own last samples (CPU% of 100 per busy core, RSS).
"""
from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.console import Group
from rich.table import Table

from heaven.cli import render
from heaven.cli.common import JsonFlag, client, emit, reports_errors

app = typer.Typer(help="Nodes: their resources, what is allocated and used, their jobs.", invoke_without_command=True)
HOLDING = ("assigned", "running")


def _percent(part: float, whole: float) -> float | None:
    return None if not whole else round(100.0 * part / whole, 1)


def node_stats(node: dict, jobs: list[dict], now: float) -> dict:
    """One node's figures from its row and the jobs of the caller's organizations."""
    here = [j for j in jobs if j["state"] in HOLDING and node["name"] in (j["placed_on"] or [j["node"]])]
    usable = node["total_cores"] - len(node["reserved"])
    cores = usable - node["free_cores"]
    memory = sum(j["memory_mb"] for j in here)
    gpus = sum(j["gpus"] for j in here)
    used_cores = round(sum(j["cpu_percent"] or 0 for j in here) / 100, 2)
    rss = round(sum(j["rss_mb"] or 0 for j in here), 1)
    resources = {
        "cores": {"total": usable, "allocated": cores, "available": node["free_cores"], "used": used_cores},
        "memory_mb": {"total": node["memory_mb"], "allocated": memory, "available": max(0, node["memory_mb"] - memory),
                      "used": rss},
        "gpus": {"total": node["gpus"], "allocated": gpus, "available": max(0, node["gpus"] - gpus), "used": None},
    }
    for r in resources.values():
        r["allocated_percent"] = _percent(r["allocated"], r["total"])
        r["used_percent"] = None if r["used"] is None else _percent(r["used"], r["total"])
    return {"name": node["name"], "state": node["state"], "kind": node["kind"], "cluster": node["cluster"],
            "endpoint": node["endpoint"], "core_offset": node["core_offset"], "local_cores": node["local_cores"],
            "reserved": node["reserved"], "last_seen": node["last_heartbeat"],
            "last_seen_seconds_ago": round(max(0.0, now - node["last_heartbeat"]), 1), "resources": resources,
            "jobs": [{"id": j["id"], "name": j["name"], "state": j["state"], "cores": len(j["local_cores"]) or
                      j["cores_requested"], "memory_mb": j["memory_mb"], "cpu_percent": j["cpu_percent"],
                      "rss_mb": j["rss_mb"]} for j in here]}


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}%"


def _ago(seconds: float) -> str:
    return f"{seconds:.0f}s ago" if seconds < 120 else f"{seconds / 60:.0f}m ago" if seconds < 7200 else \
        f"{seconds / 3600:.0f}h ago"


def stats_table(s: dict):
    head = Table(show_header=False, box=None)
    seen = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s["last_seen"]))
    for key, value in (("Name", s["name"]), ("State", s["state"]), ("Kind", s["kind"]), ("Cluster", s["cluster"]),
                       ("Endpoint", s["endpoint"] or "-"), ("Cores (local)", render.cores_text(s["local_cores"])),
                       ("Reserved", render.cores_text(s["reserved"])), ("Last seen", f"{seen} ({_ago(s['last_seen_seconds_ago'])})")):
        head.add_row(f"[bold]{key}:[/]", str(value))
    table = Table("RESOURCE", "TOTAL", "ALLOCATED", "AVAILABLE", "ALLOC%", "USED", "USED%", title="Resources",
                  title_justify="left")
    for name, r in s["resources"].items():
        table.add_row(name, str(r["total"]), str(r["allocated"]), str(r["available"]), _pct(r["allocated_percent"]),
                      "-" if r["used"] is None else str(r["used"]), _pct(r["used_percent"]))
    jobs = Table("ID", "NAME", "STATE", "CORES", "MEMORY MB", "CPU%", "RSS MB", title=f"Jobs ({len(s['jobs'])})",
                 title_justify="left")
    for j in s["jobs"]:
        jobs.add_row(str(j["id"]), j["name"], j["state"], str(j["cores"]), str(j["memory_mb"]),
                     "-" if j["cpu_percent"] is None else f"{j['cpu_percent']:.0f}",
                     "-" if j["rss_mb"] is None else f"{j['rss_mb']:.0f}")
    return Group(head, table, jobs)


def list_table(stats: list[dict]) -> Table:
    table = Table("NAME", "STATE", "CLUSTER", "CORES alloc/total", "ALLOC%", "CPU USED", "MEMORY MB alloc/total",
                  "GPUS alloc/total", "JOBS", "LAST SEEN")
    for s in stats:
        c, m, g = (s["resources"][k] for k in ("cores", "memory_mb", "gpus"))
        table.add_row(s["name"], s["state"], s["cluster"], f"{c['allocated']}/{c['total']}", _pct(c["allocated_percent"]),
                      f"{c['used']:g}", f"{m['allocated']}/{m['total']}", f"{g['allocated']}/{g['total']}",
                      str(len(s["jobs"])), _ago(s["last_seen_seconds_ago"]))
    return table


def _holding_jobs(c) -> list[dict]:
    return [j for page in c.pages("jobs", {"state": list(HOLDING)}) for j in page]


def all_stats(c) -> list[dict]:
    jobs, now = _holding_jobs(c), time.time()
    return [node_stats(n, jobs, now) for page in c.pages("nodes") for n in page]


@app.callback()
@reports_errors
def nodes(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List nodes (``heaven nodes`` is ``heaven nodes list``)."""
    if ctx.invoked_subcommand is None:
        emit(all_stats(client()), as_json, list_table)


@app.command("list")
@reports_errors
def listing(as_json: JsonFlag = False) -> None:
    """Each node: cores allocated of total, CPU used, memory, GPUs, jobs, last seen."""
    emit(all_stats(client()), as_json, list_table)


@app.command()
@reports_errors
def stats(name: Annotated[str, typer.Argument(help="the node's name")], as_json: JsonFlag = False) -> None:
    """One node in detail: total / allocated / available / used per resource, its jobs."""
    c = client()
    node = c.node(name)
    emit(node_stats(node, _holding_jobs(c), time.time()), as_json, stats_table)
