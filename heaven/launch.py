"""The ``heaven`` entry point: the user CLI plus the commands that start servers.

Kept apart from ``heaven.cli`` so the user CLI never imports the controller or
the agent (import contracts in .importlinter); only this module wires them.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from typing import Annotated

import typer

from heaven.cli import sim_command
from heaven.cli.main import app, err, out


def _history_as_swf(url: str) -> str:
    """What ``heaven sim --from-events`` replays: the store's job history as SWF."""
    from heaven.store.engine import Store
    from heaven.store.export import swf_text

    store = Store(url)
    try:
        with store.begin() as conn:
            return swf_text(conn)
    finally:
        store.dispose()


sim_command.event_log_reader = _history_as_swf


@app.command()
def controller(
    host: Annotated[str | None, typer.Option(help="address to listen on (HEAVEN_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="port (HEAVEN_PORT)")] = None,
    database: Annotated[str | None, typer.Option(help="database URL (HEAVEN_DATABASE_URL)")] = None,
) -> None:
    """Run the controller: API, scheduler loop, status page."""
    import uvicorn
    from pydantic import ValidationError

    from heaven.config import ControllerSettings
    from heaven.control.app import create_app

    overrides = {k: v for k, v in {"host": host, "port": port, "database_url": database}.items() if v is not None}
    try:
        settings = ControllerSettings(**overrides)
    except ValidationError as exc:
        err.print(f"[red]error:[/red] invalid setting: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}")
        raise typer.Exit(2) from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # Agents hold long-polls open for up to 25 s: do not wait for them on shutdown.
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="warning",
                timeout_graceful_shutdown=1)


@app.command()
def agent(
    name: Annotated[str | None, typer.Option(help="node name (HEAVEN_AGENT_NAME; default: host name)")] = None,
    cluster: Annotated[str | None, typer.Option(help="the cluster (pool) this node belongs to")] = None,
    controller_url: Annotated[str | None, typer.Option("--controller", help="controller URL")] = None,
    cores: Annotated[str | None, typer.Option(help="CPUs this node offers, e.g. 0-3,6 (default: all)")] = None,
    port: Annotated[int | None, typer.Option(help="port for the agent's own API (0: any free port)")] = None,
    mode: Annotated[str | None, typer.Option(help="cgroup, affinity or auto")] = None,
    workdir: Annotated[str | None, typer.Option(help="where job logs go")] = None,
) -> None:
    """Run a node agent: registers, runs pinned jobs, reports telemetry."""
    import uvicorn

    from heaven.agent.executor import ExecError
    from heaven.agent.runtime import Agent, QuietServer, parse_cores
    from heaven.agent.server import create_agent_app
    from heaven.config import AgentSettings

    given = {"name": name, "cluster": cluster, "controller": controller_url, "cores": cores, "port": port, "mode": mode, "workdir": workdir}
    settings = AgentSettings(**{k: v for k, v in given.items() if v is not None})
    if settings.mode not in ("cgroup", "affinity", "auto"):
        err.print(f"[red]error:[/red] --mode must be cgroup, affinity or auto, not {settings.mode!r}")
        raise typer.Exit(2)
    try:
        offered = parse_cores(settings.cores) if settings.cores else None
    except ValueError:
        err.print(f"[red]error:[/red] --cores must look like 0-3,6, not {settings.cores!r}")
        raise typer.Exit(2) from None
    if offered is not None and not set(offered) <= os.sched_getaffinity(0):
        err.print(f"[red]error:[/red] --cores {settings.cores}: this machine offers CPUs {sorted(os.sched_getaffinity(0))}")
        raise typer.Exit(2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        node = Agent(settings)
    except ExecError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    server_class = type("AgentServer", (QuietServer, uvicorn.Server), {})
    server = server_class(uvicorn.Config(create_agent_app(node), host=settings.host, port=settings.port,
                                         log_level="warning"))
    asyncio.run(node.run(server))


def split_cores(cpus: list[int], parts: int) -> list[list[int]]:
    """Split the machine's CPUs into ``parts`` contiguous groups, as evenly as possible."""
    size, extra = divmod(len(cpus), parts)
    groups, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        groups.append(cpus[start:end])
        start = end
    return groups


@app.command()
def up(
    agents: Annotated[int, typer.Option(min=1, max=64, help="local agents splitting this machine's cores")] = 2,
    port: Annotated[int, typer.Option(min=1, max=65535, help="controller port")] = 8000,
    database: Annotated[str, typer.Option(help="database URL")] = "sqlite:///heaven.db",
) -> None:
    """Controller + local agents + status page, one command (Ctrl-C stops everything)."""
    cpus = sorted(os.sched_getaffinity(0))
    if agents > len(cpus):
        err.print(f"[red]error:[/red] --agents {agents}: this machine has only {len(cpus)} CPUs to split")
        raise typer.Exit(2)
    url = f"http://127.0.0.1:{port}"
    me = [sys.executable, "-m", "heaven.launch"]
    procs = [subprocess.Popen([*me, "controller", "--port", str(port), "--database", database])]
    for i, group in enumerate(split_cores(cpus, agents), start=1):
        procs.append(subprocess.Popen([*me, "agent", "--name", f"node-{i}", "--controller", url,
                                       "--cores", ",".join(map(str, group))]))
    out.print(f"Hot-Plug Heaven is up: [bold]{url}[/] (status page), API docs at {url}/docs. Ctrl-C stops it.")
    out.print(f"Try: HEAVEN_URL={url} heaven submit --cores 1 -- sleep 30; heaven jobs")

    def stop(*_):
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
        deadline = time.monotonic() + 10
        for p in procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
        raise typer.Exit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        err.print("[red]a component stopped; shutting down[/red]")
    except KeyboardInterrupt:
        pass
    stop()


if __name__ == "__main__":
    app()
