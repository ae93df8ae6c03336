"""Which of a pool's CPUs a new node gets: the one rule the providers that run nodes on this
machine (``local``, ``docker``) share. A node takes ``count`` CPUs of the pool no other
node of that pool holds, lowest first, or the launch fails saying how many are free."""
from __future__ import annotations

import os
from collections.abc import Iterable

from heaven.config import PoolSpec
from heaven.control.pools.providers import LaunchFailed


def pool_cpus(spec: PoolSpec) -> list[int]:
    """The CPUs a pool's nodes split among them: its ``cpus``, default every CPU this process may use."""
    return sorted(spec.cpus if spec.cpus is not None else os.sched_getaffinity(0))


def take_free(cpus: list[int], held: Iterable[int], count: int, kind: str) -> tuple[int, ...]:
    held = set(held)
    free = [c for c in cpus if c not in held]
    if len(free) < count:
        raise LaunchFailed(f"the {kind} provider has {len(free)} free CPUs of {len(cpus)}, a node needs {count}")
    return tuple(free[:count])
