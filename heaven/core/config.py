"""What a cycle is asked to do: the policy and every knob of the stages.

``Policy`` is a value, not a string compared in eight places: each stage asks
it a question (``strict``: does a blocked job stop the pass? ``backfills``:
does a reservation let later jobs pass? ``holds_head``: does the blocked head
stay first across cycles?). It is a ``StrEnum``, so the controller's and the
simulator's settings (plain strings) still compare equal to it.

Policies:
- ``greedy`` (controller default): every job in queue order takes the best node
  that fits now; a job that does not fit does not hold back smaller ones behind it.
- ``fcfs``: strict first-come-first-served: once a job cannot start, nothing
  behind it starts in this cycle (jobs pinned to another node included).
- ``rl-backfill``: the backfilling of RLScheduler (Zhang et al., SC'20): the
  blocked head's reservation is fixed once and kept, through the snapshot,
  until it starts; later jobs start if they fit now and end strictly before it.
- ``easy``: true EASY (Mu'alem & Feitelson): the reservation is recomputed every
  cycle and a later job may also start if it only uses cores the head will not
  need at its reservation ("extra" cores).
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from heaven.core import queue
from heaven.core.ranking import BEST_FIT, LEAST_LOADED

NEWEST_FIRST = "newest-first"
WEEK = 7 * 24 * 3600.0  # Slurm's PriorityDecayHalfLife default
DEFAULT_CLUSTER = "default"  # the cluster of a job that names none, as a join token without one
OLDEST_FIRST = "oldest-first"
VICTIM_ORDERS = (NEWEST_FIRST, OLDEST_FIRST)
# What an evicted running job becomes (HEAVEN_GIVEBACK): requeued (its process killed), or
# suspended (its process frozen on its node until cores free up there again).
REQUEUE = "requeue"
SUSPEND = "suspend"
GIVEBACKS = (REQUEUE, SUSPEND)


class Policy(StrEnum):
    GREEDY = "greedy"
    FCFS = "fcfs"
    RL_BACKFILL = "rl-backfill"
    EASY = "easy"

    @property
    def strict(self) -> bool:
        """A job that cannot start ends the pass (the others wait behind it)."""
        return self is not Policy.GREEDY

    @property
    def backfills(self) -> bool:
        """Later jobs may start around the blocked head's reservation."""
        return self in (Policy.RL_BACKFILL, Policy.EASY)

    @property
    def keeps_reservation(self) -> bool:
        """The head's reservation is computed once and carried until it starts (RLScheduler's rule);
        such a policy always holds its head first."""
        return self is Policy.RL_BACKFILL


POLICIES = tuple(p.value for p in Policy)
BACKFILLING = tuple(p.value for p in Policy if p.backfills)


@dataclass(frozen=True, slots=True)
class FairShare:
    """Fair share between organizations (fairshare.py): how fast past usage is forgotten, and
    each organization's weight per cluster as ((org, cluster), weight) pairs (1 where not given)."""

    half_life: float = WEEK
    weights: tuple[tuple[tuple[int, str], float], ...] = ()

    def __post_init__(self) -> None:
        if not self.half_life > 0:
            raise ValueError("the fair-share half-life must be > 0 seconds")
        for key, weight in self.weights:
            if not weight > 0:
                raise ValueError(f"fair-share weight of {key[0]}/{key[1]} must be > 0, not {weight:g}")

    def weight(self, org: int, cluster: str) -> float:
        for key, weight in self.weights:
            if key == (org, cluster):
                return weight
        return 1.0


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    policy: Policy | str = Policy.GREEDY
    order: str = "priority"
    placement: str = BEST_FIT
    steal: bool = False
    # A donor keeps max(min_cores, ceil(used × (1 + headroom))) cores.
    headroom: float = 0.2
    hold_head: bool = False
    explain: bool = True
    # Seconds after a live shrink or grow before the same job may be shrunk again.
    cooldown: float = 0.0
    # No job is ever shrunk below this many cores (nor below its own min_cores).
    min_cores: int = 1
    preempt: bool = False
    victim_order: str = NEWEST_FIRST
    # What preemption and lend-back do to a running victim: GIVEBACKS.
    giveback: str = REQUEUE
    # None: no fair share (the queue is the ordering alone, nothing is lent back).
    fair_share: FairShare | None = None

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"unknown policy {self.policy!r}; choose one of {', '.join(POLICIES)}")
        object.__setattr__(self, "policy", Policy(self.policy))  # a setting's string becomes the value
        if self.order not in queue.ORDERINGS:
            raise ValueError(f"unknown order {self.order!r}; choose one of {', '.join(queue.ORDERINGS)}")
        if self.placement not in (BEST_FIT, LEAST_LOADED):
            raise ValueError(f"unknown placement {self.placement!r}")
        if self.headroom < 0:
            raise ValueError("headroom must be >= 0")
        if self.victim_order not in VICTIM_ORDERS:
            raise ValueError(f"unknown victim order {self.victim_order!r}; choose one of {', '.join(VICTIM_ORDERS)}")
        if self.giveback not in GIVEBACKS:
            raise ValueError(f"unknown giveback {self.giveback!r}; choose one of {', '.join(GIVEBACKS)}")

    @property
    def holds_head(self) -> bool:
        """The blocked head of the previous cycle stays first, whatever the ordering says now."""
        return self.hold_head or self.policy.keeps_reservation
