"""Cluster quotas: the jobs running in one cluster never hold more than its quota."""
from __future__ import annotations

from heaven.core.model import Job, Quota
from heaven.core.reasons import Reason
from heaven.core.snapshot import NodeCapacity, Snapshot

OVER_QUOTA = "over_quota"


class QuotaLedger:
    """What each cluster with a quota holds now, updated as the cycle places jobs."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.quotas = snapshot.quotas
        self.used: dict[str, list[int]] = {name: [0, 0, 0] for name in self.quotas}
        cluster_of = {n.name: n.quota_key for n in snapshot.nodes}
        for alloc in snapshot.allocations:
            used = self.used.get(cluster_of.get(alloc.node, ""))
            if used is not None:
                used[0] += len(alloc.cores)
                used[1] += alloc.memory_mb
                used[2] += len(alloc.gpu_ids)

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

    def charge(self, cluster: str, cores: int, memory_mb: int, gpus: int) -> None:
        used = self.used.get(cluster)
        if used is not None:
            used[0] += cores
            used[1] += memory_mb
            used[2] += gpus
