"""Placement backends: how a job is held to its cores (and its memory limit).

One backend per node, chosen once when the executor starts:
- CgroupPlacement: a cpuset (and memory) group per job, v1 or v2 alike (the
  version's quirks are its driver's, in cgroups.py);
- AffinityPlacement: no group at all; the job is pinned by sched_setaffinity
  and found again by its process group.

Each job gets a Slot from the backend. The executor talks only to slots, so no
`if cgroup` test is left outside this module.
"""
from __future__ import annotations

import logging
import signal
from collections.abc import Sequence
from pathlib import Path

from heaven.agent import affinity
from heaven.agent.cgroups import JobCgroup, ScopeCgroups, stale_scopes
from heaven.agent.mounts import Layout

log = logging.getLogger(__name__)


class AffinitySlot:
    """Nothing to create or remove: the process group is the only handle on the job."""
    join_files: list[str] = []
    dirs: list[Path] = []

    def set_cpus(self, cores: Sequence[int]) -> None:
        """Affinity alone: the caller pins the threads."""

    def tree(self, pid: int) -> list[int]:
        # Parent links lose orphans; the process group keeps them.
        return affinity.process_tree(pid, pgid=pid)

    def members(self) -> list[int]:
        return []

    def oom_kills(self) -> int:
        return 0

    def release(self, timeout: float = 0) -> bool:
        return True

    def record(self) -> dict | None:
        """What a later agent needs to find this slot again (kept in the shim's record)."""
        return None


class CgroupSlot:
    def __init__(self, group: JobCgroup):
        self.group = group
        self.join_files = group.procs_files
        self.dirs = group.dirs

    def set_cpus(self, cores: Sequence[int]) -> None:
        # cpuset first: on a grow the affinity the caller sets next would be
        # refused for cores the cpuset does not allow yet.
        self.group.set_cpus(cores)

    def tree(self, pid: int) -> list[int]:
        # The cgroup already holds every descendant, orphans included, so the
        # costlier process-group scan of /proc is not needed here.
        tree = affinity.process_tree(pid)
        return tree + [p for p in self.group.pids() if p not in tree]

    def members(self) -> list[int]:
        return self.group.pids()

    def oom_kills(self) -> int:
        return self.group.oom_kills()

    def release(self, timeout: float = 0) -> bool:
        return self.group.remove(timeout=timeout)

    def record(self) -> dict | None:
        memory = self.group.memory_dir
        return {"cpuset": str(self.group.cpuset_dir), "memory": str(memory) if memory else None}


class AffinityPlacement:
    mode = "affinity"

    def slot(self, job_id: int, cores: Sequence[int], memory_mb: int = 0) -> AffinitySlot:
        return AffinitySlot()  # no memory limit in this mode: memory_mb is accepted and ignored

    def reopen(self, record: dict | None) -> AffinitySlot:
        return AffinitySlot()

    def clear_stale(self, name: str, keep: set[int] = frozenset()) -> int:
        return 0  # nothing to search: the shims' records are how a new agent finds old jobs

    def remove(self) -> None:
        pass


class CgroupPlacement:
    def __init__(self, scope: ScopeCgroups):
        self.scope = scope
        self.mode = f"cgroup-v{scope.layout.version}"

    @classmethod
    def try_open(cls, scope_name: str) -> "CgroupPlacement | str":
        """The backend if we can actually write the hierarchy (the only honest test), else why not."""
        try:
            layout = Layout.detect()
        except OSError as exc:
            return f"cannot read the cgroup mounts: {exc}"
        if layout is None:
            return "no mounted cgroup hierarchy offers the cpuset controller"
        scope = ScopeCgroups(layout, scope_name)
        try:
            scope.prepare()
        except OSError as exc:
            scope.remove(timeout=0.2)
            return f"cannot configure {layout.cpuset / 'heaven'}: {exc.strerror or exc}"
        return cls(scope)

    def slot(self, job_id: int, cores: Sequence[int], memory_mb: int = 0) -> CgroupSlot:
        group = self.scope.job(job_id)
        group.create(cores, memory_mb)  # OSError: nothing is left behind
        return CgroupSlot(group)

    def reopen(self, record: dict | None) -> CgroupSlot | AffinitySlot:
        """The slot of a job an earlier agent started, from its shim's record."""
        if not record:
            return AffinitySlot()  # started by an agent in affinity mode
        return CgroupSlot(JobCgroup.at(self.scope, Path(record["cpuset"]), record["memory"]))

    def clear_stale(self, name: str, keep: set[int] = frozenset()) -> int:
        """Kill what earlier, dead runs of agent `name` left in their groups and remove those
        groups, except processes in `keep` (jobs a new agent re-adopted). Returns how many died."""
        killed = 0
        for scope in stale_scopes(self.scope.layout, name):
            for base_dir in scope.dirs():
                if not base_dir.is_dir():
                    continue
                for job_dir in base_dir.iterdir():
                    if not (job_dir.is_dir() and job_dir.name.startswith("job-")):
                        continue
                    group = scope.job(int(job_dir.name.removeprefix("job-")))
                    pids = group.pids()
                    if keep & set(pids):
                        continue  # a live, re-adopted job's group
                    killed += len(pids)
                    group.kill_all(signal.SIGKILL)
                    group.remove(timeout=2.0)
            if not any(d.is_dir() and any(c.is_dir() for c in d.iterdir()) for d in scope.dirs()):
                scope.remove(timeout=2.0)
        return killed

    def remove(self) -> None:
        self.scope.remove()


def open_placement(mode: str, scope_name: str) -> tuple[AffinityPlacement | CgroupPlacement, str | None]:
    """The backend for `mode` ("auto", "cgroup", "affinity") and, if cgroups were wanted but
    not usable, why not. "cgroup" with unusable cgroups is the caller's error to raise."""
    if mode == "affinity":
        return AffinityPlacement(), None
    opened = CgroupPlacement.try_open(scope_name)
    if isinstance(opened, str):
        return AffinityPlacement(), opened
    return opened, None
