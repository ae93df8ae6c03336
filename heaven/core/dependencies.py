"""Dependencies: a job waits for the jobs it names, or is cancelled when one failed.

``afterok`` needs the dependency to succeed (Slurm's ``--dependency=afterok``);
``afterany`` only needs it to end. A dependency the snapshot does not know is
treated as still running: waiting is always safe, cancelling is not.
"""
from __future__ import annotations

from heaven.core.model import Job
from heaven.core.plan import Cancel
from heaven.core.reasons import Reason
from heaven.core.states import JobState

AFTER_OK = "afterok"
AFTER_ANY = "afterany"
WAITING_FOR_DEPENDENCY = "dependency"


def blocker(job: Job, ended: dict[int, JobState]) -> Reason | Cancel | None:
    """None when ``job`` may start; a Reason while it must wait; a Cancel when it never can."""
    waiting: list[int] = []
    for dep_id, kind in job.depends_on:
        state = ended.get(dep_id)
        if state is None:
            waiting.append(dep_id)
        elif kind == AFTER_OK and state != JobState.SUCCEEDED:
            return Cancel(job.id, f"dependency {dep_id} ended {state}, and this job runs only after it succeeds")
    if waiting:
        names = ", ".join(str(d) for d in waiting)
        return Reason(WAITING_FOR_DEPENDENCY, f"waiting for job{'s' if len(waiting) > 1 else ''} {names} to end", "after")
    return None
