"""``heaven sim TRACE``: replay a workload trace through the scheduling core.

A plain function with Typer-annotated parameters; the main CLI registers it
(``app.command("sim")(sim)``). It reads the trace, replays it with a Rich
progress bar, and prints the metrics as a table (or JSON), with the published
figure beside it where one exists. A bad file is a one-line message and exit
code 1, never a traceback.
"""
from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from typing import TYPE_CHECKING

from heaven.sim.defaults import HEADROOM

if TYPE_CHECKING:
    from heaven.sim.run import Result


class Policy(str, Enum):
    fcfs = "fcfs"
    rl_backfill = "rl-backfill"
    easy = "easy"
    greedy = "greedy"


class Order(str, Enum):
    fifo = "fifo"
    sjf = "sjf"
    f1 = "f1"
    priority = "priority"


class OrgsFrom(str, Enum):
    user = "user"
    group = "group"


class Protocol(str, Enum):
    whole = "whole"
    rlscheduler = "rlscheduler"


# Set by the program's entry point (heaven.launch): reads a store's job history as SWF text.
# The CLI itself never imports the store (see .importlinter).
event_log_reader: Callable[[str], str] | None = None


def sim(
    trace: Annotated[Path | None, typer.Argument(help="an SWF trace (Standard Workload Format), plain or .gz")] = None,
    from_events: Annotated[str | None, typer.Option("--from-events", help="replay the jobs recorded in this "
                                                    "database (a URL, or an SQLite file) under another policy")] = None,
    policy: Annotated[Policy, typer.Option(help="backfilling: fcfs (none), rl-backfill (published variant), easy")] = Policy.easy,
    order: Annotated[Order, typer.Option(help="queue order: fifo, sjf (shortest estimate first), f1")] = Order.fifo,
    steal: Annotated[bool, typer.Option("--steal", help="reclaim idle cores from running jobs for waiting ones")] = False,
    preempt: Annotated[bool, typer.Option("--preempt", help="let higher-priority jobs evict lower ones "
                                          "(SWF jobs share one priority: nothing is evicted)")] = False,
    protocol: Annotated[Protocol, typer.Option(help="whole trace, or RLScheduler's 10 × 1,024-job sequences")] = Protocol.whole,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
    plot: Annotated[Path | None, typer.Option(help="write queue length and utilization over time to this PNG")] = None,
    seed: Annotated[int, typer.Option(help="seed of every random choice: same seed, same numbers")] = 0,
    cores: Annotated[int | None, typer.Option(min=1, help="machine size (default: MaxProcs/MaxNodes of the header)")] = None,
    headroom: Annotated[float, typer.Option(min=0.0, help="stealing leaves a donor ceil(used × (1 + headroom)) cores")] = HEADROOM,
    usage_noise: Annotated[float, typer.Option(min=0.0, max=0.99, help="error of measured use: × (1 ± U(0, noise))")] = 0.0,
    orgs_from: Annotated[OrgsFrom | None, typer.Option("--orgs-from", help="fair share between organizations: "
                                                       "SWF field 12 (user) or 13 (group) names each job's")] = None,
    half_life: Annotated[float, typer.Option(min=1.0, help="fair share: seconds for past usage to count half")] = 7 * 86400.0,
    share_window: Annotated[float, typer.Option(min=1.0, help="fair share: seconds per window of the shares report")] = 86400.0,
) -> None:
    """Replay TRACE through the same scheduling core the controller uses, and measure it."""
    # The simulator (and matplotlib, for --plot) load only when this command runs: every other
    # command of the CLI starts without them.
    from heaven.sim.protocol import prepare
    from heaven.sim.reader import SwfError, read_swf
    from heaven.sim.run import config_for, simulate
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    err = Console(stderr=True)
    if (trace is None) == (from_events is None):
        err.print("[red]error:[/red] give either a TRACE file or --from-events DATABASE")
        raise typer.Exit(2)
    try:
        if from_events is not None:
            trace = _exported(from_events)
        workload = prepare(read_swf(trace), protocol.value, cores, orgs_from.value if orgs_from else None)
        fair = None
        if orgs_from is not None:
            from heaven.core.config import FairShare

            fair = FairShare(half_life=half_life)
        config = config_for(policy.value, order.value, steal, protocol.value, headroom, preempt=preempt, fair_share=fair)
    except (SwfError, OSError, ValueError) as exc:
        err.print(f"[red]error:[/red] {_message(exc, trace)}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    with Progress(TextColumn("replaying {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("jobs"), TimeElapsedColumn(), console=err, transient=True,
                  disable=not err.is_terminal) as progress:
        task = progress.add_task(workload.name, total=workload.jobs)
        result = simulate(workload, config, seed, usage_noise,
                          on_progress=lambda done: progress.update(task, completed=done), share_window=share_window)
    if plot is not None:
        title = f"{workload.name}: {policy.value}, {order.value}{' + steal' if steal else ''} ({protocol.value})"
        from heaven.sim.plot import plot_runs  # matplotlib: 1.4 s, only when a plot is asked for

        plot_runs([(f"{policy.value} {order.value}{' +steal' if steal else ''}", result.outcomes)], plot, title)
    if json_out:
        data = result.as_dict()
        if orgs_from is not None:
            from heaven.sim.metrics import org_shares

            data["org_shares"] = [[{str(k): v for k, v in w.items()} for w in org_shares(o)] for o in result.outcomes]
        published = _published(result)
        if published is not None:
            data["published_mean_bounded_slowdown"] = published
        sys.stdout.write(json.dumps(_finite(data), indent=2) + "\n")
        return
    Console().print(_table(result))
    if orgs_from is not None:
        Console().print(_shares(result, share_window))
    if plot is not None:
        Console().print(f"plot written to {plot}")


def _exported(database: str) -> Path:
    """The store's history as a temporary SWF file."""
    if event_log_reader is None:
        raise ValueError("--from-events is not available in this program")
    url = database if "://" in database else f"sqlite:///{Path(database).resolve()}"
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        raise ValueError(f"{database}: no such database file")
    import tempfile

    handle = tempfile.NamedTemporaryFile("w", suffix=".swf", prefix="heaven-history-", delete=False)
    with handle:
        try:
            handle.write(event_log_reader(url))
        except Exception as exc:  # a missing table, a refused connection: one line, not a traceback
            raise ValueError(f"{database}: cannot read its job history ({type(exc).__name__}: {exc})") from exc
    return Path(handle.name)


def _message(exc: Exception, trace: Path) -> str:
    if isinstance(exc, FileNotFoundError):
        return f"{trace}: no such file"
    if isinstance(exc, IsADirectoryError):
        return f"{trace}: is a directory, not a trace"
    if isinstance(exc, OSError):
        return f"{trace}: {exc.strerror or exc}"
    return str(exc)


def _published(result: Result) -> float | None:
    from heaven.sim.run import PUBLISHED_LUBLIN

    if result.workload.protocol != "rlscheduler" or result.workload.name != "lublin_256.swf" or result.config.steal:
        return None
    return PUBLISHED_LUBLIN.get((result.config.policy, result.config.order))


def _finite(value):
    """JSON has no NaN: an undefined figure (no jobs) becomes null."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _table(result: Result) -> Table:
    w, c, m = result.workload, result.config, result.metrics
    title = (f"{w.name} · {w.protocol} · {w.cores} cores · {m.jobs:,} jobs in {len(w.sequences)} "
             f"sequence{'s' if len(w.sequences) != 1 else ''} · {c.policy}, {c.order}{', steal' if c.steal else ''}")
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    published = _published(result)
    bsld = f"{m.mean_bounded_slowdown:,.2f}"
    if published is not None:
        gap = 100 * (m.mean_bounded_slowdown / published - 1)
        bsld += f"  (published {published:,.2f}, {round(gap, 2) + 0.0:+.2f}%)"
    rows = [
        ("mean bounded slowdown (10 s)", bsld),
        ("utilization (cores held)", f"{m.utilization:.3f}"),
        ("utilization (cores busy)", f"{m.used_utilization:.3f}"),
        ("utilization (RLScheduler's definition)", f"{m.protocol_utilization:.3f}"),
        ("mean wait", _duration(m.mean_wait)),
        ("p50 wait", _duration(m.p50_wait)),
        ("p95 wait", _duration(m.p95_wait)),
        ("max wait", _duration(m.max_wait)),
        ("makespan" + (" (mean of sequences)" if len(w.sequences) > 1 else ""), _duration(m.makespan)),
    ]
    if c.steal:
        rows += [
            ("shrinks (donors)", f"{m.shrinks:,} ({m.donors:,})"),
            ("core-hours reclaimed", f"{m.reclaimed_core_seconds / 3600:,.1f}"),
            ("donors' slowdown mean / max", f"{m.donor_slowdown_mean:.3f} / {m.donor_slowdown_max:.3f}"),
        ]
    for label, value in rows:
        table.add_row(label, value)
    if w.dropped:
        table.caption = "dropped: " + ", ".join(f"{n} ({why})" for why, n in w.dropped.items())
    return table


def _shares(result: Result, window: float) -> Table:
    """Each organization's share of the core-seconds held, per window (the first sequence)."""
    from heaven.sim.metrics import org_shares

    windows = org_shares(result.outcomes[0]) if result.outcomes else []
    orgs = sorted({org for w in windows for org in w})
    table = Table(title=f"share by organization, {window:g} s windows", title_justify="left")
    table.add_column("window")
    for org in orgs[:12]:
        table.add_column(str(org), justify="right")
    for i, shares in enumerate(windows[:50]):
        table.add_row(str(i), *(f"{shares.get(org, 0.0):.3f}" for org in orgs[:12]))
    return table


def _duration(seconds: float) -> str:
    if math.isnan(seconds):
        return "-"
    if seconds < 120:
        return f"{seconds:,.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:,.1f} min"
    return f"{seconds / 3600:,.1f} h"
