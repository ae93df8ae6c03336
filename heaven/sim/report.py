"""Regenerate the tables and plots of ``docs/simulation.md``.

    python -m heaven.sim.report                 # everything (a few minutes)
    python -m heaven.sim.report --only published

Every number in the document comes from here; each table's section is the text
between ``<!-- report:NAME -->`` and ``<!-- /report:NAME -->`` and is replaced
whole, so the prose around it stays as written. Each row can also be had alone
with ``heaven sim`` (the command is printed above each table).
"""
from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from heaven.sim.metrics import Metrics
from heaven.sim.plot import plot_runs
from heaven.sim.protocol import Workload, prepare
from heaven.sim.reader import read_swf
from heaven.sim.run import PUBLISHED_LUBLIN, config_for, simulate

POLICIES = ("fcfs", "rl-backfill", "easy", "greedy")
ORDERS = ("fifo", "sjf", "f1")
TRACES = {
    "lublin": "lublin_256.swf",
    "ctc": "CTC-SP2-1996-3.1-cln.swf.gz",
    "kth": "KTH-SP2-1996-2.1-cln.swf.gz",
}


@dataclass
class Context:
    traces: Path
    img: Path
    cache: dict

    def workload(self, key: str, protocol: str) -> Workload:
        if (key, protocol) not in self.cache:
            self.cache[key, protocol] = prepare(read_swf(self.traces / TRACES[key]), protocol)
        return self.cache[key, protocol]


def run(ctx: Context, key: str, protocol: str, policy: str, order: str = "fifo", steal: bool = False,
        **kw) -> tuple[Metrics, list]:
    noise = kw.pop("usage_noise", 0.0)
    result = simulate(ctx.workload(key, protocol), config_for(policy, order, steal, protocol, **kw), usage_noise=noise)
    return result.metrics, result.outcomes


def command(key: str, protocol: str, rest: str) -> str:
    where = "" if protocol == "whole" else " --protocol rlscheduler"
    return f"heaven sim ../shared/traces/{TRACES[key]}{where} {rest}".rstrip()


def hours(seconds: float) -> str:
    return f"{seconds / 3600:,.2f}"


# --- sections ------------------------------------------------------------------------


def published(ctx: Context) -> str:
    lines = [
        "Average bounded slowdown on `lublin_256.swf`, 10 × 1,024 jobs, RLScheduler's protocol.",
        "Each cell: this simulator / published (gap). True EASY has no published figure.",
        f"Reproduce a cell: `{command('lublin', 'rlscheduler', '--policy POLICY --order ORDER')}`.",
        "",
        "| backfilling | FCFS order | SJF | F1 |",
        "|---|---|---|---|",
    ]
    labels = {"fcfs": "none (`fcfs`)", "rl-backfill": "published variant (`rl-backfill`)", "easy": "true EASY (`easy`)"}
    for policy in ("fcfs", "rl-backfill", "easy"):
        cells = []
        for order in ORDERS:
            m, _ = run(ctx, "lublin", "rlscheduler", policy, order)
            ref = PUBLISHED_LUBLIN.get((policy, order))
            gap = "" if ref is None else f" / {ref:,.2f} ({round(100 * (m.mean_bounded_slowdown / ref - 1), 2) + 0.0:+.2f}%)"
            cells.append(f"{m.mean_bounded_slowdown:,.2f}{gap}")
        lines.append(f"| {labels[policy]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def matrix(ctx: Context, key: str) -> str:
    lines = [
        f"`{TRACES[key]}`, RLScheduler's protocol (10 × 1,024 jobs). Waits in hours.",
        f"Reproduce a row: `{command(key, 'rlscheduler', '--policy POLICY --order ORDER [--steal]')}`.",
        "",
        "| backfilling | order | steal | mean bounded slowdown | mean wait | p95 wait | max wait "
        "| utilization (held) | utilization (busy) | shrinks | donors' slowdown (max) |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for steal in (False, True):
        for policy in POLICIES:
            for order in ORDERS:
                m, _ = run(ctx, key, "rlscheduler", policy, order, steal)
                lines.append(
                    f"| {policy} | {order} | {'yes' if steal else 'no'} | {m.mean_bounded_slowdown:,.2f} "
                    f"| {hours(m.mean_wait)} | {hours(m.p95_wait)} | {hours(m.max_wait)} | {m.utilization:.3f} "
                    f"| {m.used_utilization:.3f} | {m.shrinks:,} | {m.donor_slowdown_max:.3f} |")
    return "\n".join(lines)


def noise(ctx: Context) -> str:
    lines = [
        "`CTC-SP2-1996-3.1-cln.swf.gz`, RLScheduler's protocol, `easy`, `fifo`, `--steal`, seed 0, against",
        "`easy` without stealing. The scheduler sees each job's parallelism × (1 ± U(0, noise)).",
        f"Reproduce a row: `{command('ctc', 'rlscheduler', '--steal --headroom H --usage-noise N')}`.",
        "",
        "| headroom | usage noise | mean bounded slowdown | mean wait (h) | donors | core-hours reclaimed "
        "| donors' slowdown mean | max |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    base, _ = run(ctx, "ctc", "rlscheduler", "easy")
    lines.append(f"| (no stealing) | | {base.mean_bounded_slowdown:.2f} | {hours(base.mean_wait)} | | | | |")
    for headroom in (0.0, 0.25, 0.5):
        for level in (0.0, 0.25, 0.5):
            m, _ = run(ctx, "ctc", "rlscheduler", "easy", "fifo", True, headroom=headroom, usage_noise=level)
            lines.append(
                f"| {headroom} | {level} | {m.mean_bounded_slowdown:.2f} | {hours(m.mean_wait)} | {m.donors:,} "
                f"| {m.reclaimed_core_seconds / 3600:,.0f} | {m.donor_slowdown_mean:.3f} | {m.donor_slowdown_max:.3f} |")
    return "\n".join(lines)


WHOLE_RUNS = (
    ("lublin", "fcfs", "fifo", False), ("lublin", "rl-backfill", "fifo", False), ("lublin", "easy", "fifo", False),
    ("ctc", "easy", "fifo", False), ("ctc", "easy", "fifo", True),
    ("kth", "easy", "fifo", False), ("kth", "easy", "sjf", False), ("kth", "easy", "f1", False),
)
PLOTS = {
    "lublin": ("lublin_whole.png", "lublin_256.swf, whole trace: no backfilling, published variant, true EASY"),
    "ctc": ("ctc_whole_steal.png", "CTC SP2, whole trace: EASY with and without stealing"),
    "kth": ("kth_whole_orders.png", "KTH SP2, whole trace: EASY with FIFO, SJF and F1 ordering"),
}


def whole(ctx: Context) -> str:
    lines = [
        "Each trace replayed whole, once, from an empty machine (`--protocol whole`, the default).",
        "Wall time is this machine's, for the whole replay.",
        "",
        "| trace | jobs | backfilling | order | steal | mean bounded slowdown | mean wait (h) | p95 wait (h) "
        "| max wait (h) | utilization (held) | makespan (days) | replay (s) |",
        "|---|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    curves: dict[str, list] = {}
    for key, policy, order, steal in WHOLE_RUNS:
        started = time.perf_counter()
        m, outcomes = run(ctx, key, "whole", policy, order, steal)
        took = time.perf_counter() - started
        curves.setdefault(key, []).append((f"{policy} {order}{' + steal' if steal else ''}", outcomes))
        lines.append(
            f"| {TRACES[key]} | {m.jobs:,} | {policy} | {order} | {'yes' if steal else 'no'} "
            f"| {m.mean_bounded_slowdown:,.2f} | {hours(m.mean_wait)} | {hours(m.p95_wait)} | {hours(m.max_wait)} "
            f"| {m.utilization:.3f} | {m.makespan / 86400:,.1f} | {took:.1f} |")
    lines.append("")
    for key, (name, title) in PLOTS.items():
        plot_runs(curves[key], ctx.img / name, title)
        lines.append(f"![{title}](img/{name})")
        lines.append("")
    return "\n".join(lines).rstrip()


SECTIONS: dict[str, Callable[[Context], str]] = {
    "published": published,
    "matrix-lublin": lambda ctx: matrix(ctx, "lublin"),
    "matrix-ctc": lambda ctx: matrix(ctx, "ctc"),
    "matrix-kth": lambda ctx: matrix(ctx, "kth"),
    "noise": noise,
    "whole": whole,
}


def replace_section(text: str, name: str, body: str, tag: str = "report") -> str:
    """Put ``body`` between the section's markers, appending the section if it is missing."""
    start, end = f"<!-- {tag}:{name} -->", f"<!-- /{tag}:{name} -->"
    block = f"{start}\n{body}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        return pattern.sub(lambda _: block, text, count=1)
    return text.rstrip("\n") + ("\n\n" if text.strip() else "") + block + "\n"


def main(argv: list[str] | None = None) -> None:
    root = Path(__file__).resolve().parents[2]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=Path, default=root.parent / "shared" / "traces")
    parser.add_argument("--doc", type=Path, default=root / "docs" / "simulation.md")
    parser.add_argument("--only", choices=sorted(SECTIONS), action="append")
    args = parser.parse_args(argv)
    ctx = Context(args.traces, args.doc.parent / "img", {})
    text = args.doc.read_text() if args.doc.exists() else ""
    for name in args.only or SECTIONS:
        started = time.perf_counter()
        text = replace_section(text, name, SECTIONS[name](ctx))
        args.doc.parent.mkdir(parents=True, exist_ok=True)
        args.doc.write_text(text)
        print(f"{name}: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
