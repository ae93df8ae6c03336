"""Post-filter actions: what a stage may do for a job no node accepts as it is.

Kubernetes calls this extension point PostFilter; Nomad's preemption sits in
the same place. An action changes running jobs so the waiting one fits:
stealing shrinks idle donors (reclaim.py), preemption evicts lower-priority
victims (preemption.py; under giveback=suspend the same victims are
suspended instead, see suspension.py). Each is one class with
one method, wired in one place (the stack in scheduler.py), so adding one is a
module and a line, not an edit of every stage.

- ``attempt(cycle, job)`` places ``job`` (and plans what it takes from
  others) and returns True, or changes nothing and returns False.
- ``after_pass``: False runs the action the moment the direct fit fails,
  inside the pass over the queue (stealing: idle cores cost nobody anything);
  True runs it once the pass is over, only for jobs nothing else placed
  (preemption: evict only what gentler means could not provide).

Actions are made fresh by ``for_config`` for each cycle, so one may remember
what already failed within it (preemption does: a request that found no
victims finds none for a job of no higher priority).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from heaven.core.model import Job

if TYPE_CHECKING:
    from heaven.core.cycle import Cycle


class Action(Protocol):
    name: str
    after_pass: bool

    def attempt(self, cycle: Cycle, job: Job) -> bool:
        """Place ``job`` by changing running jobs; False (and no change) if it cannot."""
        ...
