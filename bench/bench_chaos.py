"""Chaos, the longer run: minutes of kill -9 faults under a stream of short jobs.

    .venv/bin/python bench/bench_chaos.py                 # 5 minutes (writes docs/benchmarks.md)
    .venv/bin/python bench/bench_chaos.py --minutes 15
    .venv/bin/python bench/bench_chaos.py --quick         # 1 minute, docs not written

Two controller replicas on one real PostgreSQL (the one tests/postgres_server.py starts),
two real agents, a job submitted every 0.25 s (1 core, 0.2-1 s of sleep, each recording
its own process lifetimes), the default cluster's quota 3 of the 4 cores. Faults in turn,
with ``--load`` seconds of load between them, until the time is up: kill -9 of the leader
(it comes back as a follower), of an agent (started again: its jobs ran on under their
shims), of PostgreSQL itself (down one second, then started again: crash recovery). Then
every accepted job must end and the invariant checker reads the event log
(tests/chaos.py, heaven/store/invariants.py).

Printed and written (section ``chaos``): jobs submitted, lost, run twice, double-booked
cores, quota exceeded (each must be 0) and the time to recover from each fault: from the
kill until a job submitted after it has started (for an agent: a job pinned to its node).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine_md, md_table, write_section  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: E402

from tests.chaos import FAULTS, Chaos  # noqa: E402
from tests.postgres_server import PostgresServer, wait_ready  # noqa: E402

COMMAND = ".venv/bin/python bench/bench_chaos.py"


def run(minutes: float, load: float, console: Console) -> tuple[Chaos, dict, object, float]:
    server = PostgresServer()
    server.start()
    chaos = None
    with tempfile.TemporaryDirectory(prefix="heaven-bench-chaos-") as tmp:
        try:
            wait_ready(server)
            chaos = Chaos(Path(tmp), server)
            chaos.start()
            began = time.monotonic()
            total = minutes * 60
            columns = (TextColumn("[bold]{task.description}"), BarColumn(), TimeElapsedColumn(),
                       TextColumn("{task.fields[status]}"))
            with Progress(*columns, console=console, transient=False) as progress:
                task = progress.add_task("chaos", total=total, status="starting")
                n = 0
                while time.monotonic() - began < total:
                    chaos.load(load)
                    fault = FAULTS[n % len(FAULTS)]
                    progress.update(task, completed=time.monotonic() - began,
                                    status=f"{len(chaos.accepted)} accepted; kill -9 {fault}...")
                    recovery = chaos.inject(fault)
                    n += 1
                    progress.update(task, completed=min(total, time.monotonic() - began),
                                    status=f"{len(chaos.accepted)} accepted; {fault} recovered in "
                                           f"{recovery.seconds:.2f} s")
                progress.update(task, status=f"{len(chaos.accepted)} accepted; draining")
                final = chaos.drain(timeout=300)
                progress.update(task, completed=total, status=f"{len(chaos.accepted)} accepted; all ended")
            elapsed = time.monotonic() - began
            report = chaos.check()
            return chaos, final, report, elapsed
        finally:
            if chaos is not None:
                chaos.stop()
            server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5.0, help="how long faults are injected (default 5)")
    parser.add_argument("--load", type=float, default=8.0, help="seconds of load between faults (default 8)")
    parser.add_argument("--quick", action="store_true", help="1 minute, docs/benchmarks.md not written")
    args = parser.parse_args()
    if args.quick:
        args.minutes = 1.0
    console = Console()
    chaos, final, report, elapsed = run(args.minutes, args.load, console)
    loadavg = Path("/proc/loadavg").read_text().split()[:3]
    counts = report.counts()
    outcome = md_table(["jobs", "count"], [
        ["submitted and accepted (201)", len(chaos.accepted)],
        ["submissions refused or unanswered during faults (not accepted)", chaos.refused],
        ["ended succeeded", final.get("succeeded", 0)],
        ["runs (placements) in the log", report.runs],
        ["**lost**", counts["lost"]],
        ["**run twice**", counts["run_twice"]],
        ["**double-booked cores**", counts["double_booked"]],
        ["**quota exceeded**", counts["over_quota"]],
        ["log disagreeing with the tables", counts["log_mismatch"]],
    ])
    rows = []
    for fault in FAULTS:
        times = [r.seconds for r in chaos.recoveries if r.fault == fault]
        if times:
            rows.append([fault, len(times), f"{statistics.median(times):.2f}", f"{max(times):.2f}",
                         " / ".join(f"{t:.2f}" for t in times)])
    recovery = md_table(["kill -9 of", "faults", "median s", "max s", "each, s"], rows)
    console.print(outcome)
    console.print(recovery)
    for violation in report.violations[:20]:
        console.print(f"[red]{violation.kind}[/red] {violation.message}")
    console.print(f"load average {' '.join(loadavg)}; {elapsed:.0f} s in all")
    if not args.quick:
        md = (f"{args.minutes:g} minutes of chaos (`{COMMAND} --minutes {args.minutes:g}`): two controller replicas "
              f"on one PostgreSQL, two agents, a 1-core job of 0.2-1 s submitted every 0.25 s, the cluster's quota "
              f"3 of its 4 cores; kill -9 of the leader, an agent and PostgreSQL in turn, {args.load:g} s of load "
              f"between faults; then every accepted job ended and the invariant checker "
              f"(`python -m heaven.store.invariants`) read the event log. Recovery: from the kill until a job "
              f"submitted after it has started (an agent's: a job pinned to its node). Load average at the end: "
              f"{' '.join(loadavg)}.\n\n{outcome}\n\n{recovery}\n\n{machine_md(COMMAND)}\n")
        console.print(f"wrote {write_section('chaos', md)}")
    return 0 if report.ok and final == {"succeeded": len(chaos.accepted)} else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
