"""``heaven``: the command line for users (submit, jobs, show, cancel, logs, nodes, events,
login, logout, whoami, token, org, cluster).

Every failure prints the API's message and exits non-zero; no tracebacks.
The server commands (controller, agent, gateway, up) are added in ``heaven.launch``.
"""
from __future__ import annotations

import json
import sys
import time
from typing import Annotated

import typer

from heaven.cli import clusters, deploy, orgs, people, render
from heaven.cli.common import JsonFlag, client, emit, err, out, reports_errors  # noqa: F401 (launch uses out, err)

app = typer.Typer(help="Hot-Plug Heaven: run jobs pinned to the cores they were granted.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
for command in (people.login, people.logout, people.whoami):
    app.command()(command)
app.add_typer(people.tokens, name="token")
app.add_typer(orgs.app, name="org")
app.add_typer(clusters.app, name="cluster")
app.add_typer(deploy.app, name="deploy")


@app.command(context_settings={"allow_interspersed_args": False})
@reports_errors
def submit(
    command: Annotated[list[str], typer.Argument(help="the program and its arguments (after --)")],
    cores: Annotated[int, typer.Option(min=1, help="cores to grant")] = 1,
    min_cores: Annotated[int | None, typer.Option(min=1, help="never shrink below this many cores")] = None,
    memory: Annotated[int, typer.Option(min=0, help="memory limit in MB (0: none)")] = 0,
    priority: Annotated[str, typer.Option(help="an integer (higher runs first) or low, normal, high, critical")] = "normal",
    name: Annotated[str | None, typer.Option(help="a name for the job")] = None,
    node: Annotated[str | None, typer.Option(help="run on this node only")] = None,
    cluster: Annotated[str | None, typer.Option(help="run in this cluster only")] = None,
    org: Annotated[str | None, typer.Option(help="the organization (name or id); default: your only or first")] = None,
    nodes: Annotated[int, typer.Option(min=1, help="a gang: run on this many nodes at once, --cores on each")] = 1,
    walltime: Annotated[float | None, typer.Option(help="seconds the job may run (then TERM, then KILL)")] = None,
    after: Annotated[list[int] | None, typer.Option(help="start after this job succeeds (repeatable)")] = None,
    after_any: Annotated[list[int] | None, typer.Option(help="start after this job ends (repeatable)")] = None,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="refuse instead of queueing when it cannot start now")] = False,
    image: Annotated[str | None, typer.Option("--image", help="run it in a container of this local image")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Submit a batch job: heaven submit --cores 2 -- python train.py"""
    job = client().submit(command=command, cores=cores, min_cores=min_cores, memory_mb=memory,
                          priority=int(priority) if priority.lstrip("-").isdigit() else priority,
                          name=name, node=node, cluster=cluster, org=org, nodes=nodes, walltime=walltime, after=after or None,
                          after_any=after_any or None, no_wait=no_wait or None, docker_image=image)
    if as_json:
        sys.stdout.write(json.dumps(job, indent=2) + "\n")
    else:
        sys.stdout.write(f"{job['id']}\n")


@app.command()
@reports_errors
def jobs(
    state: Annotated[list[str] | None, typer.Option(help="only jobs in this state (repeatable)")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 50,
    as_json: JsonFlag = False,
) -> None:
    """List jobs, newest first."""
    emit(client().jobs(state, limit), as_json, render.jobs_table)


@app.command()
@reports_errors
def show(job_id: Annotated[int, typer.Argument(help="job id")], as_json: JsonFlag = False) -> None:
    """Show one job: state, cores, why it waits."""
    emit(client().job(job_id), as_json, render.job_panel)


@app.command()
@reports_errors
def cancel(job_id: Annotated[int, typer.Argument(help="job id")], as_json: JsonFlag = False) -> None:
    """Cancel a pending, assigned or running job."""
    job = client().cancel(job_id)
    emit(job, as_json, lambda j: f"job {j['id']} {j['state']}")


@app.command()
@reports_errors
def logs(
    job_id: Annotated[int, typer.Argument(help="job id")],
    stderr: Annotated[bool, typer.Option("--stderr", help="show standard error instead")] = False,
) -> None:
    """Print a job's output."""
    sys.stdout.write(client().logs(job_id, "stderr" if stderr else "stdout"))


@app.command()
@reports_errors
def nodes(as_json: JsonFlag = False) -> None:
    """List nodes with their cores and state."""
    emit(client().nodes(), as_json, render.nodes_table)


@app.command()
@reports_errors
def events(
    after: Annotated[int, typer.Option(min=0, help="only events after this sequence number")] = 0,
    job: Annotated[int | None, typer.Option(help="only events of this job")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="keep printing new events")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Print the event log."""
    c = client()
    while True:
        batch = c.events(after=after, job=job)
        if batch:
            emit(batch, as_json, render.events_table)
            after = batch[-1]["seq"]
        if not follow:
            return
        time.sleep(1.0)


try:  # the simulator's command, when present
    from heaven.cli.sim_command import sim
    app.command("sim")(sim)
except ImportError:  # pragma: no cover - only while the simulator is being built
    pass
