"""What a replay measures, per sequence and over all sequences.

- utilization: core-seconds held by jobs ÷ (cores × makespan); used
  utilization counts only the cores jobs keep busy (the usage model);
- wait: start − submit; mean, p50, p95 (linear interpolation) and max, over
  the jobs of every sequence together (the max shows starvation);
- bounded slowdown (10 s bound): max(1, (wait + actual run) / max(recorded run, 10)),
  averaged over each sequence, then over the sequences (the published
  protocol's average); a donor slowed by stealing counts its longer run;
- makespan: last end − first submit, averaged over the sequences;
- stealing: core-seconds reclaimed (cores taken × how long the donor would
  still have held them had it run undisturbed, i.e. until start + recorded run)
  and the donors' slowdown (actual ÷ recorded run time).

``protocol_utilization`` is RLScheduler's own definition, printed beside the
published 0.657 / 0.868: core-seconds of recorded runs ÷ (cores × (last start −
first submit)).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from heaven.sim.engine import JobRecord, Outcome

BOUND = 10.0


@dataclass(frozen=True, slots=True)
class Metrics:
    jobs: int
    utilization: float
    protocol_utilization: float
    used_utilization: float
    mean_wait: float
    p50_wait: float
    p95_wait: float
    max_wait: float
    mean_bounded_slowdown: float
    makespan: float
    shrinks: int
    reclaimed_core_seconds: float
    donors: int
    donor_slowdown_mean: float
    donor_slowdown_max: float
    cycles: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def bounded_slowdown(record: JobRecord) -> float:
    return max(1.0, (record.end - record.submit) / max(record.run, BOUND))


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th quantile (0..1) of ``values``, interpolating linearly between ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize(outcomes: Sequence[Outcome]) -> Metrics:
    """Metrics over one or more replayed sequences."""
    outcomes = [o for o in outcomes if o.records]
    if not outcomes:
        return Metrics(0, *([math.nan] * 9), 0, 0.0, 0, math.nan, math.nan, 0)
    waits = [r.wait for o in outcomes for r in o.records]
    donors = [r for o in outcomes for r in o.records if r.shrinks]
    donor_slowdowns = [(r.end - r.start) / r.run for r in donors]
    return Metrics(
        jobs=len(waits),
        utilization=_mean(_utilization(o) for o in outcomes),
        protocol_utilization=_mean(_protocol_utilization(o) for o in outcomes),
        used_utilization=_mean(_utilization(o, used=True) for o in outcomes),
        mean_wait=_mean(waits),
        p50_wait=percentile(waits, 0.50),
        p95_wait=percentile(waits, 0.95),
        max_wait=max(waits),
        mean_bounded_slowdown=_mean(_mean(bounded_slowdown(r) for r in o.records) for o in outcomes),
        makespan=_mean(_span(o) for o in outcomes),
        shrinks=sum(len(r.shrinks) for r in donors),
        reclaimed_core_seconds=sum(n * max(0.0, min(r.end, r.start + r.run) - t) for r in donors for t, n in r.shrinks),
        donors=len(donors),
        donor_slowdown_mean=_mean(donor_slowdowns) if donors else 1.0,
        donor_slowdown_max=max(donor_slowdowns, default=1.0),
        cycles=sum(o.cycles for o in outcomes),
    )


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else math.nan


def _span(outcome: Outcome) -> float:
    return max(r.end for r in outcome.records) - min(r.submit for r in outcome.records)


def _utilization(outcome: Outcome, used: bool = False) -> float:
    span = _span(outcome)
    area = outcome.used_core_seconds if used else outcome.busy_core_seconds
    return area / (outcome.cores * span) if span > 0 else math.nan


def _protocol_utilization(outcome: Outcome) -> float:
    span = max(r.start for r in outcome.records) - min(r.submit for r in outcome.records)
    work = sum(r.run * r.cores for r in outcome.records)
    return work / (outcome.cores * span) if span > 0 else math.nan


def org_shares(outcome: Outcome) -> list[dict[int, float]]:
    """Each organization's share of the core-seconds held, window by window (fair share replays)."""
    out = []
    for row in outcome.org_windows:
        total = sum(row.values())
        out.append({org: held / total for org, held in sorted(row.items())} if total > 0 else {})
    return out
