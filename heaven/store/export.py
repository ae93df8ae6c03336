"""The store's history as a Standard Workload Format trace, for what-if replays.

Every batch job that ran (reached ``running``) and ended becomes one SWF line; a job
that never started (failed or cancelled while ``assigned``) is left out, as it has
no run time: its submit time, its
wait, its run time, the cores it was granted, its walltime as the estimate, and
the CPU it really used (the mean of its usage samples) as field 6, so a replay
with ``--steal`` knows how much of its request it kept busy.
"""
from __future__ import annotations

from sqlalchemy import Connection, func, select

from heaven.core.states import JobState
from heaven.store.tables import jobs, nodes

_STATUS = {JobState.SUCCEEDED.value: 1, JobState.FAILED.value: 0, JobState.CANCELLED.value: 5}


def swf_text(conn: Connection) -> str:
    cores = sum(len(c) for c in conn.execute(select(nodes.c.local_cores)).scalars())
    rows = conn.execute(select(jobs).where(jobs.c.kind == "batch", jobs.c.started_at.is_not(None),
                                           jobs.c.finished_at.is_not(None), jobs.c.state.in_(list(_STATUS)))
                        .order_by(jobs.c.submitted_at, jobs.c.id)).all()
    first = conn.execute(select(func.min(jobs.c.submitted_at))).scalar() or 0.0
    lines = ["; Hot-Plug Heaven job history, exported for replay", f"; MaxProcs: {max(cores, 1)}",
             f"; MaxNodes: {max(cores, 1)}"]
    for number, r in enumerate(rows, start=1):
        run = max(r.finished_at - r.started_at, 0.0)
        used = sum(r.usage) / len(r.usage) / 100.0 if r.usage else None  # cores kept busy, on average
        cpu_per_proc = -1 if used is None else round(min(used / r.cores, 1.0) * run, 3)
        fields = [number, round(r.submitted_at - first, 3), round(r.started_at - r.submitted_at, 3), round(run, 3),
                  r.cores, cpu_per_proc, -1, r.cores, -1 if r.walltime is None else round(r.walltime, 3),
                  r.memory_mb * 1024 if r.memory_mb else -1, _STATUS[r.state], -1, -1, -1, -1, -1, -1, -1]
        lines.append(" ".join(str(f) for f in fields))
    return "\n".join(lines) + "\n"
