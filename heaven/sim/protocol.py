"""From a trace to what is replayed: the job list, the machine, the sequences.

Two protocols:

- ``whole`` (default): every usable job of the trace, in submit order, one
  replay from an empty machine.
- ``rlscheduler``: the evaluation protocol of RLScheduler (Zhang et al., SC'20),
  whose published figures this simulator reproduces. The job list is sorted by
  job number; ten sequences of 1,024 consecutive jobs start at fixed indices,
  each replayed alone from an empty machine at its first job's submit time.
  Results are averaged over the sequences. It needs 10,000 usable jobs or more.

Both read a job the same way (RLScheduler's rules):
- a negative run time reads as 10 s; a job whose run time is then 0 is dropped;
- its size is max(allocated, requested) processors;
- its estimate (``walltime``) is the requested time, the run time where that is -1;
- the machine is ``MaxProcs`` from the header, ``MaxNodes`` where it is missing.
Jobs larger than the machine could never run and are dropped (and counted).

The usage model for stealing: a job's real parallelism is SWF field 6 (average
CPU time per processor) ÷ run time × allocated processors, capped at its size.
With at least that many cores it runs its recorded run time; with fewer it
stretches in proportion. Without field 6 it uses every core it holds.

Organizations (fair share): ``orgs_from="user"`` or ``"group"`` makes SWF field 12
(user) or 13 (group) each job's organization; -1 (unknown) is one organization too.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from heaven.sim.reader import SwfError, Trace

PROTOCOLS = ("whole", "rlscheduler")
ORGS_FROM = ("user", "group")
RLSCHEDULER_STARTS = (1981, 2756, 4299, 8850, 3316, 2714, 5228, 7762, 4022, 7085)
RLSCHEDULER_LENGTH = 1024
NEGATIVE_RUN_TIME = 10.0


@dataclass(frozen=True, slots=True)
class SimJob:
    """One job to replay."""

    id: int
    submit: float
    run: float  # recorded run time: how long it takes with all the cores it really uses
    cores: int  # what it asks for and is granted
    estimate: float  # what the scheduler is told (Job.walltime)
    parallelism: float | None = None  # cores it keeps busy; None = all it holds
    org: int | None = None  # its organization for fair share (None: organizations not in play)


@dataclass(slots=True)
class Workload:
    name: str
    protocol: str
    cores: int
    sequences: list[list[SimJob]]
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def jobs(self) -> int:
        return sum(len(s) for s in self.sequences)


def prepare(trace: Trace, protocol: str = "whole", cores: int | None = None, orgs_from: str | None = None) -> Workload:
    """The sequences to replay for ``protocol``; ``cores`` overrides the header; ``orgs_from``: the
    SWF field (``user`` or ``group``) that names each job's organization."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    if orgs_from is not None and orgs_from not in ORGS_FROM:
        raise ValueError(f"unknown organization field {orgs_from!r}; choose one of {', '.join(ORGS_FROM)}")
    machine = cores or trace.machine_cores
    if not machine or machine <= 0:
        raise SwfError(trace.path, None, "the header has neither MaxProcs nor MaxNodes; give the machine size (--cores)")
    jobs, dropped = job_list(trace, machine, orgs_from)
    name = trace.path.rsplit("/", 1)[-1]
    if protocol == "whole":
        jobs.sort(key=lambda j: (j.submit, j.id))
        return Workload(name, protocol, machine, [jobs] if jobs else [], dropped)
    jobs.sort(key=lambda j: j.id)
    needed = max(RLSCHEDULER_STARTS) + RLSCHEDULER_LENGTH
    if len(jobs) < needed:
        raise SwfError(trace.path, None, f"the rlscheduler protocol needs {needed} usable jobs, the trace has {len(jobs)}")
    sequences = [jobs[s:s + RLSCHEDULER_LENGTH] for s in RLSCHEDULER_STARTS]
    return Workload(name, protocol, machine, sequences, dropped)


def job_list(trace: Trace, machine: int, orgs_from: str | None = None) -> tuple[list[SimJob], dict[str, int]]:
    """Every usable job of the trace (in trace order) and how many were dropped, by reason."""
    jobs: list[SimJob] = []
    dropped = {"zero run time": 0, "no processors": 0, "larger than the machine": 0}
    for raw in trace.jobs:
        run = raw.run_time if raw.run_time >= 0 else NEGATIVE_RUN_TIME
        if run == 0:
            dropped["zero run time"] += 1
            continue
        size = max(raw.allocated_processors, raw.requested_processors)
        if size <= 0:
            dropped["no processors"] += 1
            continue
        if size > machine:
            dropped["larger than the machine"] += 1
            continue
        estimate = raw.requested_time if raw.requested_time != -1 else raw.run_time
        org = None if orgs_from is None else (raw.user_id if orgs_from == "user" else raw.group_id)
        jobs.append(SimJob(raw.job_number, raw.submit_time, run, size, estimate, _parallelism(raw, size), org))
    return jobs, {k: v for k, v in dropped.items() if v}


def _parallelism(raw, size: int) -> float | None:
    """Field 6 ÷ run time × allocated processors, capped at the size; None when unknown."""
    if raw.average_cpu_time < 0 or raw.run_time <= 0:
        return None
    allocated = raw.allocated_processors if raw.allocated_processors > 0 else size
    return min(float(size), raw.average_cpu_time / raw.run_time * allocated)
