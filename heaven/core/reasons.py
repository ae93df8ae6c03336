"""Reasons, not booleans: every rejection says what is missing and where.

Messages follow the Kubernetes wording operators already know
("Insufficient CPU: node n1 has 2.00 available, job requires 3.00").
"""
from __future__ import annotations

from dataclasses import dataclass

INSUFFICIENT_CPU = "insufficient_cpu"
INSUFFICIENT_MEMORY = "insufficient_memory"
INSUFFICIENT_STORAGE = "insufficient_storage"
INSUFFICIENT_GPU = "insufficient_gpu"
NODE_NOT_READY = "node_not_ready"
UNKNOWN_NODE = "unknown_node"
WRONG_CLUSTER = "wrong_cluster"
NO_NODES = "no_nodes"
NEVER_FITS = "never_fits"  # unschedulable, and no amount of waiting helps
BLOCKED_BY_HEAD = "blocked_by_head"  # strict FIFO: a job ahead waits
PINNED_ELSEWHERE = "pinned_elsewhere"  # a pinned job asked about another node


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    message: str
    field: str | None = None  # the request field at fault, for API errors

    def __str__(self) -> str:
        return self.message


_RESOURCE = {
    "cores": (INSUFFICIENT_CPU, "CPU"),
    "memory_mb": (INSUFFICIENT_MEMORY, "memory"),
    "storage_mb": (INSUFFICIENT_STORAGE, "storage"),
    "gpus": (INSUFFICIENT_GPU, "GPU"),
}


def insufficient(resource: str, node: str, available: float, required: float) -> Reason:
    code, label = _RESOURCE[resource]
    return Reason(
        code,
        f"Insufficient {label}: node {node} has {available:.2f} available, job requires {required:.2f}",
        resource,
    )


def never_fits(resource: str, asked: int, largest: int, node: str | None) -> Reason:
    _, label = _RESOURCE[resource]
    where = f" (node {node})" if node else ""
    return Reason(
        NEVER_FITS,
        f"{resource}={asked} can never be satisfied: the largest node has {largest}{where}",
        resource,
    )
