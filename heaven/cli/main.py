"""``heaven``: the command line for users (submit, jobs, show, cancel, logs, nodes, watch,
events, report, login, logout, whoami, token, org, cluster, deploy).

Every failure prints the API's message and exits non-zero; no tracebacks.
The server commands (controller, agent, gateway, up) are added in ``heaven.launch``.
``heaven --controller URL[,URL...]`` names the controller (replicas) for every command,
instead of HEAVEN_URL. A plain ``heaven jobs`` is answered by heaven.cli.quick before this
module is even imported; what it prints is heaven.cli.listing's either way.
"""
from __future__ import annotations

import json
import sys
import time
from typing import Annotated

import typer

from heaven.cli import clusters, deploy, listing, nodes, orgs, people, render, report, submit, watch
from heaven.cli.common import JsonFlag, client, emit, err, out, reports_errors, use_controller  # noqa: F401 (launch uses out, err)
from heaven.client.settings import controller_problem

app = typer.Typer(help="Hot-Plug Heaven: run jobs pinned to the cores they were granted.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
for command in (people.login, people.logout, people.whoami):
    app.command()(command)
app.add_typer(people.tokens, name="token")
app.add_typer(orgs.app, name="org")
app.add_typer(clusters.app, name="cluster")
app.add_typer(deploy.app, name="deploy")
app.add_typer(nodes.app, name="nodes")
app.command(context_settings={"allow_interspersed_args": False})(submit.submit)
app.command()(watch.watch)
app.command()(report.report)


@app.callback()
def root(
    controller: Annotated[str | None, typer.Option(
        "--controller", metavar="URL[,URL...]",
        help="the controller, or its replicas tried in turn (instead of HEAVEN_URL)")] = None,
) -> None:
    """Hot-Plug Heaven: run jobs pinned to the cores they were granted."""
    problem = None if controller is None else controller_problem(controller)
    if problem:
        err.print(f"[red]error:[/red] {problem}", highlight=False, soft_wrap=True)  # one line
        raise typer.Exit(2)
    use_controller(controller)


@app.command()
@reports_errors
def jobs(
    state: Annotated[list[str] | None, typer.Option(help="only jobs in this state (repeatable)")] = None,
    limit: Annotated[int | None, typer.Option(min=listing.LIMIT_RANGE[0], max=listing.LIMIT_RANGE[1], help=(
        f"how many (default {listing.DEFAULT_LIMIT}); with --all, per page (default {listing.DEFAULT_PAGE})"))] = None,
    every: Annotated[bool, typer.Option("--all", help="every job, page after page, printed as each arrives")] = False,
    as_json: JsonFlag = False,
) -> None:
    """List jobs, newest first (a table; on a pipe, plain columns)."""
    listing.list_jobs(client(), state, limit, every, as_json)


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
def events(
    after: Annotated[int, typer.Option(min=0, help="only events after this sequence number")] = 0,
    job: Annotated[int | None, typer.Option(help="only events of this job")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="keep printing new events")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Print the event log (--follow: and every new event as it is recorded, until Ctrl-C)."""
    c = client()
    gathered: list[dict] = []  # --json without --follow: one array of every event
    try:
        while True:
            batch = c.events(after=after, job=job, limit=PAGE)
            if batch:
                if as_json and follow:  # one event per line while following, as jq -c reads it
                    sys.stdout.write("".join(json.dumps(e) + "\n" for e in batch))
                    sys.stdout.flush()
                elif as_json:
                    gathered += batch
                else:
                    emit(batch, as_json, render.events_table)
                after = batch[-1]["seq"]
            if len(batch) == PAGE:
                continue  # more are waiting: no pause
            if not follow:
                break
            time.sleep(1.0)
    except KeyboardInterrupt:
        return
    if as_json:
        emit(gathered, True, render.events_table)


PAGE = 500


try:  # the simulator's command, when present
    from heaven.cli.sim_command import sim
    app.command("sim")(sim)
except ImportError:  # pragma: no cover - only while the simulator is being built
    pass
