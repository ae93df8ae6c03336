"""The scheduling core: pure functions from an immutable snapshot to a plan.

Nothing here reads a clock, a database, the network or global randomness; the
controller and the simulator both pass in ``now`` and a seeded ``rng``.
The words (node, core map, job, allocation, plan) are those of DESIGN.md; see
``README.md`` in this folder for the pipeline diagram.
"""
from heaven.core.model import Allocation, Job, Node
from heaven.core.plan import Place, Plan
from heaven.core.scheduler import SchedulerConfig, schedule
from heaven.core.snapshot import Snapshot
from heaven.core.states import JobState, NodeState

__all__ = [
    "Allocation", "Job", "JobState", "Node", "NodeState", "Place", "Plan",
    "SchedulerConfig", "Snapshot", "schedule",
]
