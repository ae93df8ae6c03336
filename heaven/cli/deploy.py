"""``heaven deploy create|list|show|start|stop|cancel|rm``: deployments (services).

A deployment is created pending and runs only once started; ``stop`` ends a running one
(as completed, or failed) and frees its resources. Errors print the API's message.
"""
from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from heaven.cli.common import JsonFlag, client, emit, out, reports_errors

app = typer.Typer(help="Deployments: long-running services, started and stopped by hand.", no_args_is_help=True)
DeploymentId = Annotated[int, typer.Argument(help="deployment id (heaven deploy list)")]
STYLE = {"pending": "yellow", "running": "green", "completed": "cyan", "failed": "red", "cancelled": "magenta"}


def table(rows: list[dict]) -> Table:
    view = Table("ID", "NAME", "STATUS", "CLUSTER", "CORES", "PRIORITY", "NODE", "RESTARTS", "AFTER", "REASON")
    for d in rows:
        view.add_row(str(d["id"]), d["name"], f"[{STYLE.get(d['status'], '')}]{d['status']}[/]", d["cluster"],
                     str(d["cores"]), str(d["priority"]), d["node"] or "-", str(d["restarts"]),
                     ",".join(map(str, d["after"])) or "-", d["reason"] or "")
    return view


def panel(d: dict) -> Table:
    view = Table(show_header=False, box=None)
    what = " ".join(d["command"]) if d["command"] else f"image {d['docker_image']}"
    for key, value in (("id", d["id"]), ("name", d["name"]), ("status", d["status"]), ("state", d["state"]),
                       ("started", "yes" if d["started"] else "no (heaven deploy start)"), ("reason", d["reason"] or "-"),
                       ("runs", what), ("cluster", d["cluster"]), ("cores", d["cores"]), ("memory", f"{d['memory_mb']} MB"),
                       ("gpus", d["gpus"]), ("priority", d["priority"]), ("node", d["node"] or "-"),
                       ("restarts", d["restarts"]), ("after", ",".join(map(str, d["after"])) or "-")):
        view.add_row(key, str(value))
    return view


@app.command()
@reports_errors
def create(
    name: Annotated[str, typer.Argument(help="a name for it")],
    command: Annotated[list[str] | None, typer.Argument(help="the command it runs (after --)")] = None,
    image: Annotated[str | None, typer.Option("--image", help="a container image (needs a container runtime)")] = None,
    cores: Annotated[int, typer.Option("--cores", "-c")] = 1,
    memory_mb: Annotated[int, typer.Option("--mem", help="memory in MB")] = 0,
    gpus: Annotated[int, typer.Option("--gpus")] = 0,
    priority: Annotated[str, typer.Option("--priority", "-p", help="an integer or low|normal|high|critical")] = "normal",
    cluster: Annotated[str, typer.Option("--cluster")] = "default",
    org: Annotated[str | None, typer.Option("--org", help="organization name or id")] = None,
    after: Annotated[list[int] | None, typer.Option("--after", help="start only after this deployment completed")] = None,
    start: Annotated[bool, typer.Option("--start", help="start it at once")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create a deployment (pending until started)."""
    c = client()
    made = c.create_deployment(name=name, command=command or None, docker_image=image, cores=cores,
                               memory_mb=memory_mb, gpus=gpus, cluster=cluster, org=org, after=after or [],
                               priority=int(priority) if priority.lstrip("-").isdigit() else priority)
    if start:
        made = c.deployment_action(made["id"], "start")
    emit(made, as_json, panel)


@app.command("list")
@reports_errors
def listing(as_json: JsonFlag = False) -> None:
    """The deployments of your organizations, newest first."""
    emit(client().deployments(), as_json, table)


@app.command()
@reports_errors
def show(deployment_id: DeploymentId, as_json: JsonFlag = False) -> None:
    emit(client().deployment(deployment_id), as_json, panel)


@app.command()
@reports_errors
def start(deployment_id: DeploymentId, as_json: JsonFlag = False) -> None:
    """Start a pending deployment (its dependencies must have completed)."""
    emit(client().deployment_action(deployment_id, "start"), as_json, panel)


@app.command()
@reports_errors
def stop(deployment_id: DeploymentId,
         failed: Annotated[bool, typer.Option("--failed", help="end it as failed, not completed")] = False,
         as_json: JsonFlag = False) -> None:
    """Stop a running deployment; its resources are freed and ready dependents start."""
    emit(client().deployment_action(deployment_id, "stop", status="failed" if failed else "completed"), as_json, panel)


@app.command()
@reports_errors
def cancel(deployment_id: DeploymentId, as_json: JsonFlag = False) -> None:
    """Cancel a pending deployment."""
    emit(client().deployment_action(deployment_id, "cancel"), as_json, panel)


@app.command("rm")
@reports_errors
def remove(deployment_id: DeploymentId, as_json: JsonFlag = False) -> None:
    """Delete a deployment (a running one is stopped first)."""
    client().delete_deployment(deployment_id)
    if as_json:
        emit({"id": deployment_id, "deleted": True}, True, None)
    else:
        out.print(f"deployment {deployment_id} deleted")
