"""The ``heaven`` entry point: the user CLI plus the commands that start servers.

Kept apart from ``heaven.cli`` so the user CLI never imports the controller or
the agent (import contracts in .importlinter); only this module wires them.
"""
from __future__ import annotations

import gc
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Annotated

import typer

from heaven.cli import sim_command
from heaven.cli.common import given_controller, settings as client_settings
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


def _freeze_startup_objects() -> None:
    """Move everything built at startup (modules, the app, its schemas) out of the collector's
    reach: the interpreter's final collections at exit otherwise walk them all, which took
    most of a second of each stop on a 2-core machine. They live until exit anyway."""
    gc.collect()
    gc.freeze()


@app.command()
def controller(
    host: Annotated[str | None, typer.Option(help="address to listen on (HEAVEN_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="port (HEAVEN_PORT)")] = None,
    database: Annotated[str | None, typer.Option(help="database URL (HEAVEN_DATABASE_URL)")] = None,
) -> None:
    """Run the controller: API, scheduler loop, status page."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from heaven.config import ControllerSettings
    from heaven.control.app import create_app
    from heaven.control.serve import serve

    overrides = {k: v for k, v in {"host": host, "port": port, "database_url": database}.items() if v is not None}
    try:
        settings = ControllerSettings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])  # e.g. pools.0.max_nodes
        err.print(f"[red]error:[/red] invalid setting: {where}: {first['msg']}", highlight=False)
        raise typer.Exit(2) from None
    except SettingsError as exc:  # a value that is not even JSON (HEAVEN_POOLS, HEAVEN_RESERVE_CORES)
        err.print(f"[red]error:[/red] invalid setting: {exc}", highlight=False)
        raise typer.Exit(2) from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        application = create_app(settings)
    except ValueError as exc:  # a pool naming a provider that is not there
        err.print(f"[red]error:[/red] invalid setting: pools: {exc}", highlight=False)
        raise typer.Exit(2) from None
    _freeze_startup_objects()
    serve(application, settings.host, settings.port, settings.request_read_timeout,
          settings.response_write_timeout)  # until SIGINT or SIGTERM
    out.print("stopped controller")


@app.command()
def agent(
    name: Annotated[str | None, typer.Option(help="node name (HEAVEN_AGENT_NAME; default: host name)")] = None,
    cluster: Annotated[str | None, typer.Option(help="the cluster (pool) this node belongs to")] = None,
    controller_url: Annotated[str | None, typer.Option("--controller", help="controller URL (default: heaven --controller)")] = None,
    cores: Annotated[str | None, typer.Option(help="CPUs this node offers, e.g. 0-3,6 (default: all)")] = None,
    port: Annotated[int | None, typer.Option(help="port for the agent's own API (0: any free port)")] = None,
    host: Annotated[str | None, typer.Option(help="address of the agent's own API (HEAVEN_AGENT_HOST)")] = None,
    mode: Annotated[str | None, typer.Option(help="cgroup, affinity or auto")] = None,
    workdir: Annotated[str | None, typer.Option(help="where job logs go")] = None,
    token: Annotated[str | None, typer.Option(help="join token from an organization admin (HEAVEN_AGENT_TOKEN)")] = None,
    run_as: Annotated[str | None, typer.Option(help="account jobs run as: person, user:NAME or root (HEAVEN_RUN_AS)")] = None,
) -> None:
    """Run a node agent: registers, runs pinned jobs, reports telemetry.

    SIGTERM or Ctrl-C stop the agent alone: its jobs keep running under their shims, and the
    next agent re-adopts them. SIGUSR1 drains it: its jobs are stopped and requeued, then it exits."""
    import uvicorn

    from heaven.agent.accounts import check_policy
    from heaven.agent.executor import ExecError
    from heaven.agent.runtime import Agent, QuietServer, parse_cores
    from heaven.agent.server import create_agent_app
    from heaven.config import AgentSettings

    given = {"name": name, "cluster": cluster, "controller": controller_url or given_controller(), "cores": cores, "port": port, "host": host,
             "mode": mode, "workdir": workdir, "token": token, "run_as": run_as}
    settings = AgentSettings(**{k: v for k, v in given.items() if v is not None})
    if settings.mode not in ("cgroup", "affinity", "auto"):
        err.print(f"[red]error:[/red] --mode must be cgroup, affinity or auto, not {settings.mode!r}")
        raise typer.Exit(2)
    try:
        check_policy(settings.run_as)
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
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
    _freeze_startup_objects()
    import asyncio

    asyncio.run(node.run(server))


@app.command()
def gateway(
    port: Annotated[int | None, typer.Option(help="port (GATEWAY_PORT or HEAVEN_GATEWAY_PORT; default 3000)")] = None,
    host: Annotated[str | None, typer.Option(help="address to listen on (HEAVEN_GATEWAY_HOST)")] = None,
    controller_url: Annotated[str | None, typer.Option("--controller", help="controller URL (heaven --controller, HEAVEN_URL)")] = None,
    token: Annotated[str | None, typer.Option(help="API token (HEAVEN_TOKEN; default: the one heaven login stored)")] = None,
) -> None:
    """Run the gateway: POST /submit runs operations on pinned workers it starts through the controller."""
    from pydantic import ValidationError

    from heaven.client.http import Client, ClientError
    from heaven.config import GatewaySettings
    from heaven.control.serve import serve
    from heaven.gateway.app import create_gateway_app

    try:
        settings = GatewaySettings(**{k: v for k, v in {"port": port, "host": host}.items() if v is not None})
    except ValidationError as exc:
        err.print(f"[red]error:[/red] invalid setting: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}")
        raise typer.Exit(2) from None
    chosen = client_settings()  # heaven --controller, else HEAVEN_URL
    controller_client = Client(controller_url or chosen.url, token=token or chosen.token)
    deadline = time.monotonic() + 60  # started beside the controller (heaven up), it may not answer yet
    while True:
        try:
            controller_client.deployments()  # the token is checked now, not at the first call
            break
        except ClientError as exc:
            if exc.status == 0 and time.monotonic() < deadline:
                time.sleep(0.5)
                continue
            err.print(f"[red]error:[/red] {exc.message}", highlight=False)
            raise typer.Exit(2) from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    out.print(f"gateway on http://{settings.host}:{settings.port} for {controller_client.url}")
    serve(create_gateway_app(controller_client, settings), settings.host, settings.port)
    controller_client.close()
    out.print("stopped gateway")


def split_cores(cpus: list[int], parts: int) -> list[list[int]]:
    """Split the machine's CPUs into ``parts`` contiguous groups, as evenly as possible."""
    size, extra = divmod(len(cpus), parts)
    groups, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        groups.append(cpus[start:end])
        start = end
    return groups


def sign_in_locally(database: str, url: str) -> tuple[str, str]:
    """The administrator and its API token (heaven.control.bootstrap), kept in the credentials
    file ``heaven login`` writes, for ``url``; returns the line ``heaven up`` says about it and
    the join token for its own agents."""
    from heaven.client import credentials
    from heaven.control.bootstrap import ensure_admin, local_agents_join_token
    from heaven.store.engine import Store

    store = Store(database)
    try:
        store.migrate()
        admin = ensure_admin(store, time.time(), (credentials.stored(url) or {}).get("token"))
        join_token = local_agents_join_token(store, time.time())
    finally:
        store.dispose()
    if admin.token is None:
        return f"Signed in as before: the token for {url} in {credentials.path()} still works.", join_token
    path = credentials.save(url, {"token": admin.token["token"], "token_id": admin.token["id"],
                                  "username": admin.username, "name": admin.token["name"]})
    made = "Made administrator admin (owner of organization default); its" if admin.created else "A new"
    return f"{made} API token for {url} is in {path} (heaven whoami: {admin.username}).", join_token


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _terminate(procs: list[subprocess.Popen], grace: float, sig: int = signal.SIGTERM) -> int:
    """``sig`` to all at once, SIGKILL to those still running after ``grace`` s; returns how many were killed."""
    for p in procs:
        p.send_signal(sig)
    deadline, killed = time.monotonic() + grace, 0
    for p in procs:
        try:
            p.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            killed += 1
    return killed


def stop_components(controller_proc: subprocess.Popen, agent_procs: list[subprocess.Popen]) -> str:
    """Agents first, drained (SIGUSR1: each stops its jobs; the controller still answers them
    meanwhile), then the controller; returns what was stopped, e.g. "stopped controller, 2 agents"."""
    agents_running = [p for p in agent_procs if p.poll() is None]
    controller_running = [controller_proc] if controller_proc.poll() is None else []
    killed = _terminate(agents_running, grace=10, sig=signal.SIGUSR1) + _terminate(controller_running, grace=5)
    stopped = (["controller"] if controller_running else []) + \
              ([f"{len(agents_running)} agent{'' if len(agents_running) == 1 else 's'}"] if agents_running else [])
    summary = "stopped " + ", ".join(stopped) if stopped else "nothing was left to stop"
    return summary + (f" ({killed} had to be killed)" if killed else "")


@app.command()
def up(
    agents: Annotated[int, typer.Option(min=1, max=64, help="local agents splitting this machine's cores")] = 2,
    port: Annotated[int, typer.Option(min=1, max=65535, envvar="HEAVEN_PORT", help="controller port")] = 8000,
    database: Annotated[str, typer.Option(envvar="HEAVEN_DATABASE_URL", help="database URL")] = "sqlite:///heaven.db",
    gateway_port: Annotated[int, typer.Option(min=0, max=65535, envvar=["HEAVEN_GATEWAY_PORT", "GATEWAY_PORT"],
                                              help="the gateway's port (0: no gateway)")] = 3000,
) -> None:
    """Controller + local agents + gateway + status page, one command (Ctrl-C stops everything)."""
    cpus = sorted(os.sched_getaffinity(0))
    if agents > len(cpus):
        err.print(f"[red]error:[/red] --agents {agents}: this machine has only {len(cpus)} CPUs to split")
        raise typer.Exit(2)
    url = f"http://127.0.0.1:{port}"
    from heaven.control.bootstrap import BootstrapRefused

    try:
        signed_in, join_token = sign_in_locally(database, url)
    except BootstrapRefused as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    me = [sys.executable, "-m", "heaven.launch"]
    # Children get their own process group: a Ctrl-C reaches this process alone, which then
    # stops them in order (agents and their jobs first) instead of all of them racing.
    controller_proc = subprocess.Popen([*me, "controller", "--port", str(port), "--database", database],
                                       process_group=0)
    # The join token goes by environment, not argument: other users can read arguments in ps.
    agent_env = {**os.environ, "HEAVEN_AGENT_TOKEN": join_token}
    agent_procs = [subprocess.Popen([*me, "agent", "--name", f"node-{i}", "--controller", url,
                                     "--cores", ",".join(map(str, group))], process_group=0, env=agent_env)
                   for i, group in enumerate(split_cores(cpus, agents), start=1)]
    # The gateway finds the administrator's token where sign_in_locally kept it for this URL.
    gateway_proc = subprocess.Popen([*me, "gateway", "--port", str(gateway_port), "--controller", url],
                                    process_group=0, env={**os.environ, "HEAVEN_URL": url}) if gateway_port else None
    out.print(f"Hot-Plug Heaven is up: [bold]{url}[/] (status page), API docs at {url}/docs. Ctrl-C stops it.")
    if gateway_proc is not None:
        out.print(f"Gateway: POST http://127.0.0.1:{gateway_port}/submit {{operation, data}}")
    out.print(signed_in, highlight=False, soft_wrap=True)  # one line, as a path is copied from it
    out.print(f"Try: HEAVEN_URL={url} heaven submit --cores 1 -- sleep 30; heaven jobs")

    _freeze_startup_objects()
    stopping = threading.Event()
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}  # given back at the end (in-process callers)
    for sig in STOP_SIGNALS:
        signal.signal(sig, lambda *_: stopping.set())
    gateway_reported = False
    while not stopping.wait(0.5):
        if any(p.poll() is not None for p in [controller_proc, *agent_procs]):
            err.print("[red]a component stopped; shutting down[/red]")
            break
        if gateway_proc is not None and gateway_proc.poll() is not None and not gateway_reported:
            # The gateway is an addition: the cluster keeps running without it (e.g. its port was taken).
            err.print(f"[red]the gateway stopped (exit {gateway_proc.returncode}); the rest keeps running[/red]")
            gateway_reported = True
    for sig in STOP_SIGNALS:  # a second Ctrl-C must not interrupt the orderly stop
        signal.signal(sig, signal.SIG_IGN)
    if gateway_proc is not None and gateway_proc.poll() is None:  # first: it stops its workers through the controller
        _terminate([gateway_proc], grace=5)
    out.print(stop_components(controller_proc, agent_procs))
    for sig, handler in previous.items():
        signal.signal(sig, handler)


if __name__ == "__main__":
    app()


@app.command()
def vm(
    name: Annotated[str, typer.Option(help="the VM node's name")] = "vm1",
    controller_port: Annotated[int, typer.Option(help="the controller's port on 127.0.0.1 (the guest reaches only that)")] = 8000,
    token: Annotated[str | None, typer.Option(help="join token for the guest agent (HEAVEN_AGENT_TOKEN)")] = None,
    workdir: Annotated[str, typer.Option(help="the guest's writable share (logs, console)")] = "var/vm",
    max_vcpus: Annotated[int, typer.Option(min=1, max=64, help="vCPU ceiling (QEMU's maxcpus)")] = 16,
    initial_vcpus: Annotated[int, typer.Option(min=1, max=64, help="vCPUs plugged right after boot")] = 1,
    memory_mb: Annotated[int, typer.Option(min=128, max=65536, help="guest memory")] = 256,
    high: Annotated[float, typer.Option(help="plug above this busy share ...")] = 0.8,
    low: Annotated[float, typer.Option(help="unplug below this busy share ...")] = 0.3,
    sustain: Annotated[float, typer.Option(help="... held this many seconds")] = 10.0,
    cooldown: Annotated[float, typer.Option(help="seconds of quiet after each change")] = 10.0,
) -> None:
    """Boot a QEMU guest that joins the controller as a node, and plug or unplug its vCPUs
    by the threshold rules (docs/vm-nodes.md) until Ctrl-C, which stops the guest."""
    from pathlib import Path

    import httpx

    from heaven.config import ClientSettings
    from heaven.core.vcpus import VcpuRules
    from heaven.vm.node import VmNode, VmNodeSpec
    from heaven.vm.scaler import VmScaler

    rules = VcpuRules(high=high, low=low, sustain=sustain, cooldown=cooldown, max_vcpus=max_vcpus)
    if rules.problem() or initial_vcpus > max_vcpus:
        err.print(f"[red]error:[/red] {rules.problem() or '--initial-vcpus must not exceed --max-vcpus'}")
        raise typer.Exit(2)
    join = token or os.environ.get("HEAVEN_AGENT_TOKEN", "")
    client = ClientSettings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    node = VmNode(VmNodeSpec(name, controller_port, join, Path(workdir).resolve() / name, max_vcpus=max_vcpus,
                             memory_mb=memory_mb))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        node.start()
        out.print(f"guest agent answering after {node.wait_for_agent():.1f} s")
        for _ in range(initial_vcpus - 1):
            node.provider.plug()
        headers = {"Authorization": f"Bearer {client.token}"} if client.token else {}
        with httpx.Client(base_url=f"http://127.0.0.1:{controller_port}", headers=headers, timeout=60) as api, \
                node.agent_client() as agent_api:
            VmScaler(name, node.provider, api, agent_api, rules).run(stop)
    except KeyboardInterrupt:
        pass
    finally:
        node.stop()
        out.print(f"stopped VM node {name}")
