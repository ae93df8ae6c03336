"""``heaven cluster create|list|show|quota|join-token|rm``: an organization's clusters,
their fixed quota and what is allocated and available in them now.

A cluster is named by its id, or by its name when only one of the caller's clusters
has it (names are unique within an organization, not across them).
"""
from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from heaven.cli import render
from heaven.cli.common import JsonFlag, client, emit, reports_errors
from heaven.client.errors import ClientError

if TYPE_CHECKING:
    from heaven.client.http import Client

app = typer.Typer(help="Clusters: pools of nodes of an organization, with a fixed quota.", no_args_is_help=True)
ClusterRef = Annotated[str, typer.Argument(help="cluster id, or its name (heaven cluster list)")]
Cores = Annotated[int | None, typer.Option("--cores", min=0, help="quota: cores")]
Memory = Annotated[int | None, typer.Option("--memory", min=0, help="quota: memory in MB")]
Gpus = Annotated[int | None, typer.Option("--gpus", min=0, help="quota: GPUs")]


def resolve(c: Client, ref: str) -> int:
    """The id of the cluster ``ref`` names: an id as is, a name if exactly one cluster has it."""
    if ref.isdecimal():
        return int(ref)
    ids = [x["id"] for x in c.clusters() if x["name"] == ref]
    if not ids:
        raise ClientError(404, "not_found", f"cluster {ref} does not exist", "cluster")
    if len(ids) > 1:
        raise ClientError(409, "ambiguous", f"several of your clusters are named {ref} (ids "
                                            f"{', '.join(map(str, ids))}): give the id", "cluster")
    return ids[0]


@app.command()
@reports_errors
def create(
    name: Annotated[str, typer.Argument(help="a name, unique within the organization")],
    org: Annotated[str | None, typer.Option(help="the organization (name or id); default: your only or first")] = None,
    cores: Cores = None, memory: Memory = None, gpus: Gpus = None, as_json: JsonFlag = False,
) -> None:
    """Create a cluster (organization admins and owners); without a quota option, that resource is unlimited."""
    made = client().create_cluster(name, org, quota_cores=cores, quota_memory_mb=memory, quota_gpus=gpus)
    emit(made, as_json, render.cluster_panel)


@app.command("list")
@reports_errors
def listing(as_json: JsonFlag = False) -> None:
    """The clusters of your organizations, with what is allocated of each quota."""
    emit(client().clusters(), as_json, render.clusters_table)


@app.command()
@reports_errors
def show(cluster: ClusterRef, as_json: JsonFlag = False) -> None:
    """One cluster: its nodes, quota, allocated and available."""
    c = client()
    emit(c.cluster(resolve(c, cluster)), as_json, render.cluster_panel)


@app.command()
@reports_errors
def quota(
    cluster: ClusterRef, cores: Cores = None, memory: Memory = None, gpus: Gpus = None,
    unlimited: Annotated[list[str] | None, typer.Option(help="remove the limit on cores, memory or gpus (repeatable)")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Change a cluster's quota (only the resources given); it limits what starts from now on."""
    fields = {"cores": "quota_cores", "memory": "quota_memory_mb", "gpus": "quota_gpus"}
    changes = {fields[k]: v for k, v in (("cores", cores), ("memory", memory), ("gpus", gpus)) if v is not None}
    for resource in unlimited or []:
        if resource not in fields:
            raise ClientError(0, "invalid_input", f"--unlimited must be cores, memory or gpus, not {resource}")
        changes[fields[resource]] = None
    if not changes:
        raise ClientError(0, "invalid_input", "give at least one of --cores, --memory, --gpus or --unlimited")
    c = client()
    emit(c.set_cluster_quota(resolve(c, cluster), **changes), as_json, render.cluster_panel)


@app.command("join-token")
@reports_errors
def join_token(
    cluster: ClusterRef,
    name: Annotated[str, typer.Option(help="what it is for, e.g. rack-3")] = "agents",
    as_json: JsonFlag = False,
) -> None:
    """Make a join token for this cluster: agents started with it (heaven agent --token) join it."""
    c = client()
    token = c.cluster_join_token(resolve(c, cluster), name)
    emit(token, as_json, lambda t: f"{t['token']}\n(heaven agent --token {t['token']}; shown once)")


@app.command()
@reports_errors
def rm(cluster: ClusterRef, as_json: JsonFlag = False) -> None:
    """Delete an empty cluster (no nodes, no jobs that have not ended) and its join tokens."""
    c = client()
    cluster_id = resolve(c, cluster)
    c.delete_cluster(cluster_id)
    if as_json:
        sys.stdout.write(json.dumps({"id": cluster_id, "deleted": True}) + "\n")
    else:
        sys.stdout.write(f"cluster {cluster_id} deleted\n")
