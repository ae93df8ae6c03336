"""Cluster quotas: the jobs running in one cluster never hold more than its quota."""
from __future__ import annotations

from heaven.core.model import Job, Node, Quota, cluster_key
from heaven.core.reasons import Reason
from heaven.core.snapshot import NodeCapacity, Snapshot
from heaven.core.states import JobState

OVER_QUOTA = "over_quota"


class QuotaLedger:
    """What each cluster with a quota holds now, updated as the cycle places jobs."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.quotas = snapshot.quotas
        self.used: dict[str, list[int]] = {name: [0, 0, 0] for name in self.quotas}
        self.reserving: set[int] = set()  # waiting jobs whose reservation is still charged
        cluster_of = {n.name: n.quota_key for n in snapshot.nodes}
        for alloc in snapshot.allocations:
            used = self.used.get(cluster_of.get(alloc.node, ""))
            if used is not None:
                used[0] += len(alloc.cores)
                used[1] += alloc.memory_mb
                used[2] += len(alloc.gpu_ids)
        for job in snapshot.jobs:
            if job.state == JobState.PENDING and reserved_in(job) in self.used:
                self.charge(reserved_in(job), job.cores, job.memory_mb, job.gpus)
                self.reserving.add(job.id)

    def check(self, job: Job, cap: NodeCapacity, credit: tuple[int, int, int] = (0, 0, 0),
              parts: int = 1) -> Reason | None:
        """Why ``job`` would break its cluster's quota on ``cap``'s node; ``credit`` is
        (cores, memory, GPUs) the same plan frees in that cluster first (evictions).

        ``parts``: how many parts of a gang would land in that cluster, each asking
        the job's full request; they are checked together, as one request."""
        quota: Quota | None = self.quotas.get(cap.node.quota_key)
        if quota is None:
            return None
        cluster = cap.node.cluster
        if job.id in self.reserving and reserved_in(job) == cap.node.quota_key:  # its own to use
            credit = (credit[0] + job.cores, credit[1] + job.memory_mb, credit[2] + job.gpus)
        used = [u - c for u, c in zip(self.used[cap.node.quota_key], credit)]
        for (limit, have, want, label, field) in (
            (quota.cores, used[0], job.cores, "cores", "cores"),
            (quota.memory_mb, used[1], job.memory_mb, "MB of memory", "memory_mb"),
            (quota.gpus, used[2], job.gpus, "GPUs", "gpus"),
        ):
            if limit is not None and have + want * parts > limit:
                asks = f"job requires {want}" if parts == 1 else \
                    f"the gang requires {want * parts} ({parts} parts of {want})"
                return Reason(OVER_QUOTA, f"cluster {cluster} quota: {have} of {limit} {label} in use, {asks}", field)
        return None

    def cores_left(self, cluster: str) -> int | None:
        """Cores the cluster may still take (None: no core quota)."""
        quota = self.quotas.get(cluster)
        if quota is None or quota.cores is None:
            return None
        return max(0, quota.cores - self.used[cluster][0])

    def placed(self, job: Job, node: Node) -> None:
        """``job`` placed on ``node``: its request is held in the node's cluster now, its waiting reservation is not."""
        if not self.used:
            return  # no quotas, so nothing is booked (and no job holds a reservation): most cycles
        self.charge(node.quota_key, job.cores, job.memory_mb, job.gpus)
        if job.id in self.reserving:  # once, though a gang places part by part
            self.reserving.discard(job.id)
            self.charge(reserved_in(job), -job.cores, -job.memory_mb, -job.gpus)

    def charge(self, cluster: str, cores: int, memory_mb: int, gpus: int) -> None:
        used = self.used.get(cluster)
        if used is not None:
            used[0] += cores
            used[1] += memory_mb
            used[2] += gpus


def reserved_in(job: Job) -> str | None:
    """The quota key a waiting job holds its request against, if it holds one."""
    if job.holds_quota and job.cluster is not None:
        return cluster_key(job.org, job.cluster)
    return None
