"""Rich tables and panels for the CLI."""
from __future__ import annotations

import time

from rich.table import Table

from heaven.cli.listing import JOB_COLUMNS, clock as _ago, cores_text, job_cells  # noqa: F401 (cores_text: re-exported)

STATE_STYLE = {"assigned": "blue", "running": "green", "pending": "yellow", "succeeded": "cyan", "failed": "red",
               "cancelled": "magenta", "preempted": "yellow", "lost": "red",
               "suspended": "yellow"}


def jobs_table(jobs: list[dict]) -> Table:
    """heaven.cli.listing's cells, the state in its colour."""
    table = Table(*JOB_COLUMNS)
    state = JOB_COLUMNS.index("STATE")
    for j in jobs:
        cells = job_cells(j)
        cells[state] = f"[{STATE_STYLE.get(j['state'], '')}]{cells[state]}[/]"
        table.add_row(*cells)
    return table


def job_panel(j: dict) -> Table:
    table = Table(show_header=False, box=None)
    rows = [("id", j["id"]), ("name", j["name"]), ("state", j["state"]), ("reason", j["reason"] or "-"),
            ("queue position", j["queue_position"] or "-"), ("command", " ".join(j["command"])),
            ("cores requested", f"{j['cores_requested']} (min {j['min_cores']})"), ("node", j["node"] or "-"),
            ("cores (global)", cores_text(j["cores"])), ("cores (local)", cores_text(j["local_cores"])),
            ("memory", f"{j['memory_mb']} MB"), ("priority", j["priority"]), ("pids", cores_text(j["pids"])),
            ("cpu%", j["cpu_percent"] if j["cpu_percent"] is not None else "-"),
            ("exit code", j["exit_code"] if j["exit_code"] is not None else "-"),
            ("submitted", _ago(j["submitted_at"])), ("started", _ago(j["started_at"])),
            ("finished", _ago(j["finished_at"]))]
    for key, value in rows:
        table.add_row(f"[bold]{key}[/]", str(value))
    return table


def nodes_table(nodes: list[dict]) -> Table:
    table = Table("NAME", "STATE", "KIND", "CORES", "FREE", "OFFSET", "LOCAL CPUS", "MEMORY MB", "CPU%", "ENDPOINT")
    for n in nodes:
        cpu = n["telemetry"].get("cpu_percent")
        table.add_row(n["name"], n["state"], n["kind"], str(n["total_cores"]), str(n["free_cores"]), str(n["core_offset"]),
                      cores_text(n["local_cores"]), str(n["memory_mb"]), "-" if cpu is None else f"{cpu:.0f}", n["endpoint"])
    return table


def events_table(events: list[dict]) -> Table:
    table = Table("SEQ", "TIME", "ACTION", "JOB", "NODE", "ACTOR", "DETAIL")
    for e in events:
        table.add_row(str(e["seq"]), _ago(e["ts"]), e["action"], str(e["job"] or "-"), e["node"] or "-", e["actor"], e["detail"])
    return table


def tokens_table(tokens: list[dict]) -> Table:
    table = Table("ID", "NAME", "CREATED", "EXPIRES")
    for t in tokens:
        expires = "never" if t["expires_at"] is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(t["expires_at"]))
        table.add_row(str(t["id"]), t["name"], time.strftime("%Y-%m-%d %H:%M", time.localtime(t["created_at"])), expires)
    return table


def orgs_table(orgs: list[dict]) -> Table:
    table = Table("ID", "NAME", "ROLE", "MEMBERS", "INVITE CODE")
    for o in orgs:
        table.add_row(str(o["id"]), o["name"], o["role"], str(o["members"]), o["invite_code"] or "-")
    return table


def org_panel(o: dict) -> Table:
    table = Table(show_header=False, box=None)
    for key, value in (("id", o["id"]), ("name", o["name"]), ("your role", o["role"]), ("members", o["members"]),
                       ("invite code", o["invite_code"] or "- (owners and admins see it)"),
                       ("created", time.strftime("%Y-%m-%d %H:%M", time.localtime(o["created_at"])))):
        table.add_row(f"[bold]{key}[/]", str(value))
    return table


def members_table(members: list[dict]) -> Table:
    table = Table("ID", "USERNAME", "ROLE", "JOINED")
    for m in members:
        table.add_row(str(m["id"]), m["username"], m["role"], time.strftime("%Y-%m-%d %H:%M", time.localtime(m["joined_at"])))
    return table


def _limit(value: int | None) -> str:
    return "-" if value is None else str(value)


def clusters_table(clusters: list[dict]) -> Table:
    table = Table("ID", "ORG", "NAME", "NODES", "CORES used/quota", "MEMORY MB used/quota", "GPUS used/quota")
    for c in clusters:
        a, q = c["allocated"], c["quota"]
        table.add_row(str(c["id"]), str(c["org_id"]), c["name"], str(len(c["nodes"])),
                      f"{a['cores']}/{_limit(q['cores'])}", f"{a['memory_mb']}/{_limit(q['memory_mb'])}",
                      f"{a['gpus']}/{_limit(q['gpus'])}")
    return table


def cluster_panel(c: dict) -> Table:
    table = Table(show_header=False, box=None)
    for key, value in (("id", c["id"]), ("organization", c["org_id"]), ("name", c["name"]),
                       ("nodes", ", ".join(c["nodes"]) or "-")):
        table.add_row(f"[bold]{key}[/]", str(value))
    for resource, unit in (("cores", ""), ("memory_mb", " MB"), ("gpus", "")):
        quota, free = c["quota"][resource], c["available"][resource]
        table.add_row(f"[bold]{resource.removesuffix('_mb')}[/]",
                      f"{c['allocated'][resource]}{unit} allocated, "
                      + ("no quota" if quota is None else f"{free}{unit} available of {quota}{unit}"))
    return table
