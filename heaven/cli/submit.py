"""``heaven submit``: a command (``heaven submit --cores 2 -- python train.py``) or a batch
script with ``#SBATCH`` directives (``heaven submit job.sh``).

COMMAND is a batch script when its first word names a file that holds an ``#SBATCH`` line
or ends in .sh, .sbatch or .slurm; the words after it are the script's arguments, and
options go before it (``heaven submit --cores 4 job.sh in.dat``), as with sbatch. Its directives (heaven.cli.sbatch) set the job's
cores, nodes, memory, walltime, name, dependencies and output files; options given on the
command line win over them, as they do with sbatch. Unsupported directives are warned
about on standard error and ignored.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from heaven.cli import sbatch
from heaven.cli.common import JsonFlag, client, err, reports_errors

SCRIPT_SUFFIXES = (".sh", ".sbatch", ".slurm")


def script_text(command: list[str]) -> str | None:
    """The batch script's text when ``command`` is one (see the module docstring)."""
    path = Path(command[0])
    if not path.is_file():
        return None
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError):
        return None
    return text if path.suffix in SCRIPT_SUFFIXES or sbatch.directive_lines(text) else None


def _first(*values):
    return next((v for v in values if v is not None), None)


def fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


@reports_errors
def submit(
    command: Annotated[list[str], typer.Argument(help="a batch script with #SBATCH directives, or the program and its "
                                                      "arguments (after --)")],
    cores: Annotated[int | None, typer.Option("--cores", "-c", min=1, help="cores to grant (on each node), as sbatch -c")] = None,
    min_cores: Annotated[int | None, typer.Option(min=1, help="never shrink below this many cores")] = None,
    memory: Annotated[int | None, typer.Option(min=0, help="memory limit in MB (0: none)")] = None,
    priority: Annotated[str, typer.Option(help="an integer (higher runs first) or low, normal, high, critical")] = "normal",
    name: Annotated[str | None, typer.Option("--name", "-J", help="a name for the job")] = None,
    node: Annotated[str | None, typer.Option(help="run on this node only")] = None,
    cluster: Annotated[str | None, typer.Option(help="run in this cluster only")] = None,
    org: Annotated[str | None, typer.Option(help="the organization (name or id); default: your only or first")] = None,
    nodes: Annotated[int | None, typer.Option("--nodes", "-N", min=1,
                                              help="a gang: run on this many nodes at once, --cores on each")] = None,
    walltime: Annotated[float | None, typer.Option(help="seconds the job may run (then TERM, then KILL)")] = None,
    after: Annotated[list[int] | None, typer.Option(help="start after this job succeeds (repeatable)")] = None,
    after_any: Annotated[list[int] | None, typer.Option(help="start after this job ends (repeatable)")] = None,
    output: Annotated[str | None, typer.Option("--output", "-o", help="a batch script's output file (%j: job id)")] = None,
    error: Annotated[str | None, typer.Option("--error", "-e", help="a batch script's error file")] = None,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="refuse instead of queueing when it cannot start now")] = False,
    image: Annotated[str | None, typer.Option("--image", help="run it in a container of this local image")] = None,
    retry_memory: Annotated[str | None, typer.Option(help="e.g. 2x,4x: killed by its memory limit, requeue it once per "
                                                          "step with that many times the memory (\"\": never)")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Submit a batch job: heaven submit --cores 2 -- python train.py, or heaven submit job.sh"""
    text = script_text(command)
    d = sbatch.Directives()
    if text is not None:
        try:
            d = sbatch.parse(text)
        except sbatch.SbatchError as exc:
            fail(f"{command[0]}: {exc}")
        for warning in d.warnings:
            err.print(f"[yellow]warning:[/yellow] {command[0]}: {warning}", highlight=False, soft_wrap=True)
    elif output or error:
        fail("--output and --error are for batch scripts (heaven logs shows a command's output)")
    name = _first(name, d.name)
    if text is not None:
        script = Path(command[0]).name
        name = name or script  # sbatch names a job after its script
        try:
            command = sbatch.command(text, script, name, _first(output, d.output), _first(error, d.error), command[1:])
        except sbatch.SbatchError as exc:
            fail(f"{command[0]}: {exc}")
    job = client().submit(command=command, cores=_first(cores, d.cores, 1), min_cores=min_cores,
                          memory_mb=_first(memory, d.memory_mb, 0),
                          priority=int(priority) if priority.lstrip("-").isdigit() else priority,
                          name=name, node=node,
                          cluster=cluster, org=org, nodes=_first(nodes, d.nodes, 1), walltime=_first(walltime, d.walltime),
                          after=after or d.after or None, after_any=after_any or d.after_any or None,
                          no_wait=no_wait or None, docker_image=image,
                          retry_memory=retry_memory)
    if as_json:
        sys.stdout.write(json.dumps(job, indent=2) + "\n")
    else:
        sys.stdout.write(f"{job['id']}\n")
