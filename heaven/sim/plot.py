"""Plots of a replay: queue length and utilization over time (PNG, matplotlib).

Both are step functions of the virtual clock (they change only at events);
each is drawn as its time-weighted average over a few hundred bins, so a
replay of 150,000 events still makes a readable line. Several runs (policies)
share the axes, one colour each; a run of several sequences draws each
sequence from its own start, fainter. Where jobs keep fewer cores busy than
they hold (SWF field 6), that use is drawn dashed under the allocation.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402

from heaven.sim.engine import Outcome  # noqa: E402

BINS = 300
HOUR = 3600.0


def binned(times: Sequence[float], values: Sequence[float], bins: int = BINS) -> tuple[list[float], list[float]]:
    """Time-weighted mean of a step function over ``bins`` equal bins.

    ``values[i]`` holds from ``times[i]`` until ``times[i + 1]``; the last value
    holds for no time. Returns (bin middles, means), times relative to the start.
    """
    if len(times) < 2 or times[-1] <= times[0]:
        return [0.0], [float(values[0])] if values else [0.0]
    start, span = times[0], times[-1] - times[0]
    width = span / bins
    area = [0.0] * bins
    for i in range(len(times) - 1):
        t0, t1, v = times[i] - start, times[i + 1] - start, values[i]
        while t1 > t0:
            b = min(int(t0 / width), bins - 1)
            if b < bins - 1 and (b + 1) * width <= t0:
                b += 1  # t0 sits on an edge that rounding put in the bin before
            edge = min(t1, (b + 1) * width) if b < bins - 1 else t1
            area[b] += v * (edge - t0)
            t0 = edge
    return [(b + 0.5) * width for b in range(bins)], [a / width for a in area]


def plot_runs(runs: Sequence[tuple[str, Sequence[Outcome]]], path: str | Path, title: str = "") -> Path:
    """Write one PNG: queue length (top) and utilization (bottom) for each run."""
    path = Path(path)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    dashed = False
    for k, (label, outcomes) in enumerate(runs):
        colour = colours[k % len(colours)]
        alpha = 0.9 if len(outcomes) == 1 else 0.45
        for n, outcome in enumerate(outcomes):
            if not outcome.times:
                continue
            xs, queued = binned(outcome.times, outcome.queued)
            _, busy = binned(outcome.times, outcome.busy)
            hours = [x / HOUR for x in xs]
            name = label if n == 0 else None
            top.plot(hours, queued, color=colour, alpha=alpha, linewidth=1.0, label=name)
            bottom.plot(hours, [100.0 * b / outcome.cores for b in busy], color=colour, alpha=alpha, linewidth=1.0)
            if outcome.used != outcome.busy:  # requested ≠ used: draw what jobs really keep busy, dashed
                _, used = binned(outcome.times, outcome.used)
                bottom.plot(hours, [100.0 * u / outcome.cores for u in used], color=colour, alpha=alpha,
                            linewidth=0.8, linestyle="--")
                dashed = True
    top.set_ylabel("jobs waiting")
    bottom.set_ylabel("cores allocated (%)" + ("\n(dashed: kept busy)" if dashed else ""))
    bottom.set_ylim(0, 105)
    bottom.set_xlabel("hours since the first submission" + (" of each sequence" if any(len(o) > 1 for _, o in runs) else ""))
    top.legend(loc="upper left", fontsize="small")
    if title:
        top.set_title(title)
    for axis in (top, bottom):
        axis.grid(True, alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
