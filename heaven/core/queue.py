"""Queue orderings: which pending job the pipeline looks at first.

Each ordering is a sort key over a job, named so the controller, the CLI and
the simulator all pick it by the same word. Priority always comes first
(higher first; every job of a trace has the same), then the ordering's own rule:

- ``priority``: then FIFO (submit time, then id). The controller's default.
- ``fifo``: submit time, then id; priorities ignored.
- ``sjf``: shortest estimate (``walltime``) first, then submit time, then id.
  A job without a walltime counts as never ending: it goes last.
- ``f1``: Carastan-Santos & de Camargo (SC'17), lowest score first:
  log10(estimate) × cores + 870 × log10(submit time). Non-positive inputs
  read as 0.1, as in RLScheduler's implementation, so its published figures
  reproduce; a job without a walltime goes last.

Every ordering combines with every policy (strict, backfilling, stealing):
the pipeline only asks for the jobs in order.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from operator import attrgetter

from heaven.core.model import Job

OrderKey = Callable[[Job], tuple]


# Orderings whose key is plain job fields, as (field, descending) from the most
# significant: a store may read the head of the queue in exactly this order
# (``ORDER BY`` ... ``LIMIT``) instead of sorting everything. ``order`` and the
# key functions below agree with it (a unit test holds them together).
FIELD_KEYS: dict[str, tuple[tuple[str, bool], ...]] = {
    "priority": (("priority", True), ("submitted_at", False), ("id", False)),
    "fifo": (("submitted_at", False), ("id", False)),
}


def by_priority(job: Job) -> tuple:
    return (-job.priority, job.submitted_at, job.id)


def fifo(job: Job) -> tuple:
    return (job.submitted_at, job.id)


def shortest_estimate_first(job: Job) -> tuple:
    estimate = job.walltime if job.walltime is not None else math.inf
    return (-job.priority, estimate, job.submitted_at, job.id)


def f1_score(job: Job) -> float:
    """log10(estimate) × cores + 870 × log10(submit); +inf without an estimate."""
    if job.walltime is None:
        return math.inf
    estimate = job.walltime if job.walltime > 0 else 0.1
    submit = job.submitted_at if job.submitted_at > 0 else 0.1
    return math.log10(estimate) * job.cores + 870.0 * math.log10(submit)


def f1(job: Job) -> tuple:
    return (-job.priority, f1_score(job), job.submitted_at, job.id)


ORDERINGS: dict[str, OrderKey] = {
    "priority": by_priority,
    "fifo": fifo,
    "sjf": shortest_estimate_first,
    "f1": f1,
}


def order(jobs: Iterable[Job], name: str) -> list[Job]:
    """The jobs in the named order (a new list).

    ``priority`` and ``fifo`` are the orderings every cycle of the controller
    and every event of the simulator pays for, so they sort on C-level keys
    read from ``FIELD_KEYS``: stable sorts from the least significant run of
    fields of one direction to the most significant.
    """
    fields = FIELD_KEYS.get(name)
    if fields is None:
        return sorted(jobs, key=ORDERINGS[name])
    runs: list[tuple[list[str], bool]] = []
    for field, descending in fields:
        if runs and runs[-1][1] == descending:
            runs[-1][0].append(field)
        else:
            runs.append(([field], descending))
    ordered = list(jobs)
    for names, descending in reversed(runs):
        ordered.sort(key=attrgetter(*names), reverse=descending)  # reverse=True keeps equal keys in order
    return ordered
