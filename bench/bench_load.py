"""Load on one controller: concurrent API clients on SQLite and on PostgreSQL, and many agents.

    .venv/bin/python bench/bench_load.py                 # the full size of issue 13: long
    .venv/bin/python bench/bench_load.py --requests 400 --agent-seconds 60   # ~5 minutes
    .venv/bin/python bench/bench_load.py --quick         # a smoke run (docs not written)

Each phase starts its own controller process (tests/live.py; PostgreSQL as
tests/postgres_server.py starts it) and measures, with the controller's CPU% (of one
core) and RSS sampled every 0.5 s (psutil):

1. N clients x M requests (bench/load/clients.py) on each database: throughput,
   p50/p99 latency per kind of call, errors by status;
2. K simulated agents (bench/load/agents.py) registered with a join token, then
   heartbeating and long-polling for the given duration: report latency p50/p99, errors.

The controllers run with HEAVEN_WRITE_RATE_PER_MINUTE=0 and HEAVEN_AUTH_RATE_PER_MINUTE=100000:
all clients share one token and all agents register from one address, which the flood
guards would (rightly) refuse. The load tool runs on the same machine as the controller
and competes with it for the CPUs.
"""
from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine_md, md_table, write_section  # noqa: E402
from load.agents import register_all, run_agents  # noqa: E402
from load.clients import run_clients  # noqa: E402
from load.stats import Calls, ProcessSampler, percentile  # noqa: E402

from tests.live import LiveCluster  # noqa: E402
from tests.postgres_server import PostgresServer, wait_ready  # noqa: E402

console = Console(width=None if sys.stdout.isatty() else 150)
GUARDS_OFF = {"write_rate_per_minute": 0, "auth_rate_per_minute": 100000}


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@contextmanager
def controller(database: str):
    """A controller process on a fresh database of that kind; yields the LiveCluster."""
    root = Path(tempfile.mkdtemp(prefix="heaven-load-"))
    postgres = None
    url = None
    if database == "postgresql":
        postgres = PostgresServer()
        postgres.start()
        wait_ready(postgres)
        url = postgres.new_database()
    cluster = LiveCluster(root, database_url=url, **GUARDS_OFF)
    try:
        cluster.start_controller()
        yield cluster
    finally:
        cluster.stop()
        if postgres is not None:
            postgres.stop()
        shutil.rmtree(root, ignore_errors=True)


def progress_bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def clients_phase(database: str, clients: int, requests: int) -> dict:
    with controller(database) as cluster:
        calls: dict[str, Calls] = {}
        load_before = loadavg()
        with progress_bar() as bar:
            task = bar.add_task(f"{database}: {clients} clients x {requests}", total=clients * requests)

            async def go() -> tuple[float, dict]:
                with ProcessSampler(cluster.controller.pid) as sampler:
                    wall = await run_clients(cluster.url, cluster.token, clients, requests, calls,
                                             lambda: bar.advance(task))
                return wall, sampler.summary()

            wall, usage = asyncio.run(go())
    every = Calls()
    for kind in calls.values():
        every.latencies += kind.latencies
        every.outcomes.update(kind.outcomes)
    return {"database": database, "clients": clients, "requests": requests, "wall": wall, "calls": calls,
            "all": every, "usage": usage, "load": f"{load_before} -> {loadavg()}"}


def agents_phase(database: str, count: int, seconds: float, heartbeat: float) -> dict:
    import httpx

    with controller(database) as cluster:
        reports, polls = Calls(), Calls()
        load_before = loadavg()
        with progress_bar() as bar:
            joining = bar.add_task(f"{database}: registering {count} agents", total=count)
            beating = bar.add_task(f"{database}: heartbeats for {seconds:g} s", total=None)

            async def go() -> tuple[float, dict]:
                async with httpx.AsyncClient(base_url=cluster.url, timeout=60) as http:
                    started = time.perf_counter()
                    credentials = await register_all(http, cluster.join_token, count, "sim",
                                                     lambda: bar.advance(joining))
                    registering = time.perf_counter() - started
                with ProcessSampler(cluster.controller.pid) as sampler:
                    await run_agents(cluster.url, credentials, seconds, heartbeat, reports, polls,
                                     lambda: bar.advance(beating))
                return registering, sampler.summary()

            registering, usage = asyncio.run(go())
    return {"database": database, "agents": count, "seconds": seconds, "heartbeat": heartbeat,
            "registering": registering, "reports": reports, "polls": polls, "usage": usage,
            "load": f"{load_before} -> {loadavg()}"}


def usage_cells(usage: dict) -> list[str]:
    return [f"{usage['cpu_mean']:.0f} / {usage['cpu_max']:.0f}", f"{usage['rss_max']:.0f}"]


def client_rows(run: dict) -> list[list]:
    rows = []
    for kind, calls in [*run["calls"].items(), ("all", run["all"])]:
        rows.append([run["database"], kind, calls.count, f"{calls.count / run['wall']:.0f}",
                     ms(percentile(calls.latencies, 50)), ms(percentile(calls.latencies, 99)), calls.errors_text()])
    return rows


def agent_row(run: dict) -> list:
    reports, polls = run["reports"], run["polls"]
    return [run["database"], run["agents"], f"{run['heartbeat']:g}", f"{run['registering']:.1f}", reports.count,
            f"{reports.count / run['seconds']:.0f}", ms(percentile(reports.latencies, 50)),
            ms(percentile(reports.latencies, 99)), reports.errors_text(), polls.count, polls.errors_text(),
            *usage_cells(run["usage"])]


CLIENT_HEAD = ["database", "call", "requests", "per s", "p50 ms", "p99 ms", "errors"]
USAGE_HEAD = ["database", "wall s", "controller CPU % mean / max", "controller RSS max MB", "load average"]
AGENT_HEAD = ["database", "agents", "heartbeat s", "registering s", "reports", "reports per s", "p50 ms", "p99 ms",
              "report errors", "long-polls", "long-poll errors", "controller CPU % mean / max", "RSS max MB"]


def show(head: list[str], rows: list[list], title: str) -> None:
    table = Table(title=title)
    for column in head:
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(c) for c in row))
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50, help="concurrent API clients (N)")
    parser.add_argument("--requests", type=int, default=10_000, help="requests per client (M)")
    parser.add_argument("--agents", type=int, default=1000, help="simulated agents (K)")
    parser.add_argument("--agent-seconds", type=float, default=60, help="how long the agents heartbeat")
    parser.add_argument("--heartbeat", type=float, default=1.0, help="seconds between two reports of an agent "
                        "(HEAVEN_AGENT_HEARTBEAT's default)")
    parser.add_argument("--databases", default="sqlite,postgresql", help="where the clients' load runs")
    parser.add_argument("--agents-database", default="sqlite", help="where the agents' load runs")
    parser.add_argument("--quick", action="store_true", help="5 clients x 20, 20 agents for 5 s; docs not written")
    args = parser.parse_args()
    if args.quick:
        args.clients, args.requests, args.agents, args.agent_seconds = 5, 20, 20, 5

    runs = [clients_phase(db, args.clients, args.requests) for db in args.databases.split(",") if db]
    client_table = [row for run in runs for row in client_rows(run)]
    usage_table = [[run["database"], f"{run['wall']:.1f}", *usage_cells(run["usage"]), run["load"]] for run in runs]
    agents = (agents_phase(args.agents_database, args.agents, args.agent_seconds, args.heartbeat)
              if args.agents else None)
    show(CLIENT_HEAD, client_table, f"{args.clients} clients x {args.requests} requests")
    show(USAGE_HEAD, usage_table, "the controller during the client load")
    if agents is not None:
        show(AGENT_HEAD, [agent_row(agents)], f"{args.agents} agents for {args.agent_seconds:g} s "
                                              f"(load average {agents['load']})")
    if args.quick:
        console.print("--quick: docs/benchmarks.md not written")
        return
    command = (f".venv/bin/python bench/bench_load.py --clients {args.clients} --requests {args.requests} "
               f"--agents {args.agents} --agent-seconds {args.agent_seconds:g} --heartbeat {args.heartbeat:g}")
    body = [
        "## Load: concurrent clients and many agents on one controller",
        "",
        f"Measured at {args.clients} clients x {args.requests} requests on each database and {args.agents} agents "
        f"for {args.agent_seconds:g} s; the full size of issue 13 is the default command "
        "(`.venv/bin/python bench/bench_load.py`: 50 x 10,000 and 1,000 agents). Each phase is a fresh "
        "controller process; the load tool runs on the same machine and competes with it for the CPUs. "
        "Guards off for the run: HEAVEN_WRITE_RATE_PER_MINUTE=0, HEAVEN_AUTH_RATE_PER_MINUTE=100000 "
        "(one token for all clients, one address for all agents). CPU % is of one core.",
        "",
        machine_md(command),
        "",
        "### API clients (list jobs 4 : submit 2 : get job 3 : events page 1)",
        "",
        md_table(CLIENT_HEAD, client_table),
        "",
        md_table(USAGE_HEAD, usage_table),
    ]
    if agents is not None:
        body += ["", f"### {args.agents} agents: a report every {args.heartbeat:g} s and the assignments long-poll "
                     f"(load average {agents['load']})", "", md_table(AGENT_HEAD, [agent_row(agents)])]
    path = write_section("load", "\n".join(body))
    console.print(f"wrote {path}")


if __name__ == "__main__":
    main()
