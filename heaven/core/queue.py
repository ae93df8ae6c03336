"""Queue orderings: which pending job the pipeline looks at first.

Each ordering is a sort key over a job; ``priority`` (higher first, then FIFO
by id) is the default. Orderings are named so the controller, the CLI and the
simulator all pick them by the same word.
"""
from __future__ import annotations

import math
from collections.abc import Callable

from heaven.core.model import Job

OrderKey = Callable[[Job], tuple]


def by_priority(job: Job) -> tuple:
    return (-job.priority, job.submitted_at, job.id)


def fifo(job: Job) -> tuple:
    return (job.submitted_at, job.id)


def shortest_estimate_first(job: Job) -> tuple:
    estimate = job.walltime if job.walltime is not None else math.inf
    return (-job.priority, estimate, job.submitted_at, job.id)


def f1(job: Job) -> tuple:
    """Carastan-Santos & de Camargo (SC'17): log10(estimate)·procs + 870·log10(submit)."""
    estimate = max(job.walltime or 1.0, 1.0)
    submit = max(job.submitted_at, 1.0)
    score = math.log10(estimate) * job.cores + 870.0 * math.log10(submit)
    return (-job.priority, score, job.id)


ORDERINGS: dict[str, OrderKey] = {
    "priority": by_priority,
    "fifo": fifo,
    "sjf": shortest_estimate_first,
    "f1": f1,
}


def order(jobs: list[Job], name: str) -> list[Job]:
    return sorted(jobs, key=ORDERINGS[name])
