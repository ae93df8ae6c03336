"""The accounting report's schema (``GET /api/v1/report``; heaven.control.accounting computes it)."""
from __future__ import annotations

from pydantic import BaseModel


class Figures(BaseModel):
    elapsed_seconds: float  # time holding cores, inside the period
    requested_core_seconds: float
    allocated_core_seconds: float
    # Measured by the runs' shims (heaven.control.accounting): summed CPU time, the largest
    # peak memory, and how many runs had a measurement; null while none had one.
    used_core_seconds: float | None
    peak_memory_mb: float | None
    measured_runs: int
    requested_mb_seconds: float
    allocated_mb_seconds: float
    lent_core_seconds: float  # idle cores this job (these jobs) lent to waiting ones
    borrowed_core_seconds: float  # held on cores taken from idle jobs
    given_back_cores: int  # cores stealing gave back to a job that had lent them
    runs: int


class TotalsOut(Figures):
    name: str  # an organization's name, a person's username ("-": jobs without an owner), or "all"
    org: str | None = None  # a person's line: the organization of these jobs
    jobs: int


class JobReport(Figures):
    id: int
    name: str
    org_id: int
    org: str
    owner: str | None
    state: str
    cores_requested: int  # per node × nodes
    memory_mb: int  # per node × nodes


class ReportOut(BaseModel):
    since: float
    until: float
    organizations: list[TotalsOut]
    people: list[TotalsOut]
    jobs: list[JobReport]
    totals: TotalsOut
