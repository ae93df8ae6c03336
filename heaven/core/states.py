"""Job and node lifecycles as explicit transition tables.

One table per lifecycle, one comment per edge. ``check_job_transition`` is the
only way the rest of the code learns whether a move is legal; the store's
``transition`` function calls it and writes exactly one event per move.
"""
from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    PENDING = "pending"
    ASSIGNED = "assigned"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PREEMPTED = "preempted"
    LOST = "lost"
    SUSPENDED = "suspended"


class NodeState(StrEnum):
    UP = "up"
    DISCONNECTED = "disconnected"
    DOWN = "down"
    DRAIN = "drain"


J = JobState
JOB_TRANSITIONS: dict[JobState, dict[JobState, str]] = {
    J.PENDING: {
        J.ASSIGNED: "placed: the scheduler granted cores on a node; no process exists yet",
        J.CANCELLED: "cancelled by a user, or a dependency failed",
        # A started deployment holds its resources in the cluster's books before any node runs it
        # (the deployment service this product replaces kept books only): stopping it ends it.
        J.SUCCEEDED: "a started deployment no node runs yet was stopped as completed",
        J.FAILED: "a started deployment no node runs yet was stopped as failed",
    },
    J.ASSIGNED: {
        J.RUNNING: "its agent reported a live process (or pinned an adopted one); walltime counts from here",
        J.FAILED: "could not be started at all (the agent refused the command, or its container image is "
                  "not on the node, or it has no command and the node no container runtime), or a "
                  "deployment stopped as failed",
        J.SUCCEEDED: "a deployment stopped as completed before its process started",
        J.CANCELLED: "cancelled by a user before it started; its cores are freed",
        J.PREEMPTED: "evicted for a job of strictly higher priority before it started",
        J.LOST: "its node stayed silent past its disconnect grace before it started, or its agent did not start it "
                "within HEAVEN_START_TIMEOUT",
    },
    J.RUNNING: {
        J.SUCCEEDED: "the process exited with status 0 (a service too: it completed), or a deployment was "
                     "stopped as completed",
        J.FAILED: "the process exited non-zero or was killed (walltime, memory), or a deployment was "
                  "stopped as failed",
        J.PENDING: "a service's process died (non-zero exit or a signal): requeued after its crash back-off; "
                   "or its memory limit killed it and HEAVEN_RETRY_MEMORY has a step left: requeued with its "
                   "memory request raised by that step (HTCondor's retry_request_memory)",
        J.CANCELLED: "cancelled by a user while running; its cores are freed",
        J.PREEMPTED: "evicted for a job of strictly higher priority",
        J.SUSPENDED: "its cores were taken back for a job of strictly higher priority (HEAVEN_GIVEBACK=suspend): "
                     "its process stays frozen on its node, holding no cores; walltime stops counting",
        J.LOST: "its node stayed silent past its disconnect grace, or its own side stopped it (its shim, when its "
                "agent was cut off that long; a drain of its agent); its cores are freed",
    },
    J.PREEMPTED: {
        J.PENDING: "requeued: batch jobs go back to the queue keeping their submit time, services "
                   "(deployments) back to pending",
        J.CANCELLED: "cancelled while evicted",
    },
    J.SUSPENDED: {
        J.RUNNING: "resumed on its own node (its process never left it), with the same PID, once cores "
                   "free up there; walltime counts again",
        J.SUCCEEDED: "its frozen process ended with status 0 (it was thawed to act on a stop)",
        J.FAILED: "its frozen process was killed or ended non-zero",
        J.CANCELLED: "cancelled by a user while suspended; its process is stopped",
        J.LOST: "its node stayed silent past its disconnect grace while it was suspended",
    },
    J.LOST: {
        J.PENDING: "requeued: a batch job or a service on a lost node runs again elsewhere",
        J.CANCELLED: "cancelled while lost",
    },
    # Terminal states have no way out: completing twice is a no-op, not an error.
    J.SUCCEEDED: {},
    J.FAILED: {},
    J.CANCELLED: {},
}

TERMINAL_JOB_STATES = frozenset(s for s, out in JOB_TRANSITIONS.items() if not out)
# States in which a job holds cores (its claims): leaving them frees the cores.
HOLDING_JOB_STATES = frozenset({J.ASSIGNED, J.RUNNING})
# A suspended job holds no cores but keeps its process (and its run) on its node: still active.
ACTIVE_JOB_STATES = frozenset({J.PENDING, *HOLDING_JOB_STATES, J.SUSPENDED})

N = NodeState
NODE_TRANSITIONS: dict[NodeState, dict[NodeState, str]] = {
    N.UP: {
        N.DISCONNECTED: "no heartbeat for HEAVEN_NODE_TIMEOUT seconds: its jobs keep their cores (its agent keeps "
                        "them running for its disconnect grace), nothing new lands",
        N.DRAIN: "an operator drains it, or its agent leaves with --drain: nothing new lands",
    },
    N.DISCONNECTED: {
        N.UP: "it heartbeats again within its disconnect grace: its jobs simply continue",
        N.DOWN: "still silent after its disconnect grace too: its agent has stopped its jobs by now, so they "
                "are lost and requeued without ever running twice",
    },
    N.DOWN: {
        N.UP: "it heartbeats again; it kills what it should no longer run",
    },
    N.DRAIN: {
        N.UP: "an operator resumes it, or its agent registers again",
        N.DISCONNECTED: "no heartbeat while draining (a drained agent that left goes this way)",
    },
}


# Crash back-off of a service, as Kubernetes' CrashLoopBackOff: 1 s after the first crash,
# doubling with every further one, never more than 5 minutes.
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 300.0


def crash_backoff(restarts: int) -> float:
    """Seconds a service waits before its restart number ``restarts + 1`` (``restarts``: done so far)."""
    return min(BACKOFF_MAX, BACKOFF_FIRST * 2.0 ** min(restarts, 30))


class IllegalTransition(ValueError):
    """A move that the lifecycle table does not allow."""


def check_job_transition(old: JobState, new: JobState) -> str:
    """Return why the edge exists, or raise IllegalTransition."""
    why = JOB_TRANSITIONS[old].get(new)
    if why is None:
        raise IllegalTransition(f"job cannot go from {old} to {new}")
    return why


def check_node_transition(old: NodeState, new: NodeState) -> str:
    why = NODE_TRANSITIONS[old].get(new)
    if why is None:
        raise IllegalTransition(f"node cannot go from {old} to {new}")
    return why
