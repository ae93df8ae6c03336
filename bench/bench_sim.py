"""Benchmark of the simulator: how fast a trace replays through the real core.

    .venv/bin/python bench/bench_sim.py            # ~1 minute
    .venv/bin/python bench/bench_sim.py --quick    # only the headline figure (docs not written)

The headline: the whole 10,000-job ``lublin_256.swf`` under true EASY (one
``schedule()`` call per event: 20,000 cycles), target < 10 s. Beside it, the
same trace under the other policies, the published protocol's 10 × 1,024 jobs,
and the 77,222-job CTC trace with stealing. Each figure is the best of
``--repeat`` runs (reading the trace is not counted; it is reported apart).

Prints a table and rewrites its own section (``bench:sim``) of docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine_md, md_table, write_section  # noqa: E402

from heaven.sim.protocol import prepare  # noqa: E402
from heaven.sim.reader import read_swf  # noqa: E402
from heaven.sim.run import config_for, simulate  # noqa: E402

TRACES = ROOT.parent / "shared" / "traces"
LUBLIN = TRACES / "lublin_256.swf"
CTC = TRACES / "CTC-SP2-1996-3.1-cln.swf.gz"
TARGET = 10.0  # seconds for the whole Lublin trace under EASY

RUNS = (  # (label, trace, protocol, policy, order, steal)
    ("lublin_256.swf whole, easy fifo", LUBLIN, "whole", "easy", "fifo", False),
    ("lublin_256.swf whole, rl-backfill fifo", LUBLIN, "whole", "rl-backfill", "fifo", False),
    ("lublin_256.swf whole, fcfs fifo", LUBLIN, "whole", "fcfs", "fifo", False),
    ("lublin_256.swf whole, easy sjf", LUBLIN, "whole", "easy", "sjf", False),
    ("lublin_256.swf 10 × 1,024, easy fifo", LUBLIN, "rlscheduler", "easy", "fifo", False),
    ("CTC-SP2 whole, easy fifo + steal", CTC, "whole", "easy", "fifo", True),
)


def best_of(repeat: int, fn) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    runs = RUNS[:1] if args.quick else RUNS
    read_time, _ = best_of(1, lambda: read_swf(CTC))
    rows = []
    headline = None
    for label, trace, protocol, policy, order, steal in runs:
        workload = prepare(read_swf(trace), protocol)
        config = config_for(policy, order, steal, protocol)
        repeat = 1 if trace == CTC else args.repeat
        seconds, result = best_of(repeat, lambda: simulate(workload, config))
        m = result.metrics
        per_cycle = seconds / m.cycles * 1e6
        if headline is None:
            headline = seconds
        rows.append([label, f"{m.jobs:,}", f"{m.cycles:,}", f"{seconds:.2f} s", f"{per_cycle:.0f} µs",
                     f"{m.mean_bounded_slowdown:,.2f}"])
        print(f"{label}: {seconds:.2f} s ({m.cycles:,} cycles, {per_cycle:.0f} µs each)", flush=True)
    met = "met" if headline < TARGET else "**missed**"
    table = Table(title=f"Simulator replay speed (target: whole Lublin under EASY < {TARGET:.0f} s: {met})")
    headers = ["replay", "jobs", "cycles", "wall time", "per cycle", "mean bounded slowdown"]
    for h in headers:
        table.add_column(h, justify="left" if h == "replay" else "right")
    for row in rows:
        table.add_row(*row)
    Console().print(table)
    if args.quick:
        return 0
    body = "\n".join([
        "## Simulator (`bench/bench_sim.py`)",
        "",
        "Trace replays through the real scheduling core: one `schedule()` call per event (each",
        "submission and each job end), `explain=False`, a single node with the trace's processors.",
        f"Best of {args.repeat} runs (1 for CTC); reading a trace is not counted "
        f"(the 77,222-line gzip CTC trace reads in {read_time:.2f} s).",
        "",
        machine_md(".venv/bin/python bench/bench_sim.py"),
        "",
        f"Target: the whole 10,000-job Lublin trace under EASY in < {TARGET:.0f} s — "
        f"measured {headline:.2f} s: {met}.",
        "",
        md_table(headers, rows),
    ])
    print(f"wrote {write_section('sim', body)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
