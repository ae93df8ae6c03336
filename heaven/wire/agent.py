"""The contract between the controller and its own agents.

Level-triggered: the agent long-polls for the full list of what should run on
its node and reconciles; it reports starts, exits and telemetry. A lost message
only delays convergence, it never loses a job or leaks a core.
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from heaven.wire.fields import MAX_CORES, MAX_MB, MAX_NAME, CoreOffset, Cpu, Endpoint, ExitCode, Generation, Id, Pid, Run


OUT_OF_MEMORY = "out of memory"  # an exit's cause: the job's cgroup counted a kill for its memory limit
CAUSE_MAX = 500
# An exit's cause: the job's shim stopped it because its agent had not reached the controller
# for its disconnect grace; the controller requeues it (it did not fail) unless already done.
DISCONNECTED = "stopped while disconnected"
# An exit's cause: its agent was drained (it stops its jobs and leaves); requeued too.
DRAINED = "stopped by a drain of its agent"
REQUEUED_CAUSES = (DISCONNECTED, DRAINED)
# CPU seconds one run may report having used: every core a node may have, busy for ten years.
MAX_CPU_SECONDS = MAX_CORES * 10 * 366 * 86400.0
# Seconds: an agent's grace (at most a week, heaven/config.py) plus its stop grace.
MAX_GRACE = 8 * 24 * 3600.0


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AgentRegister(Strict):
    name: str = Field(min_length=1, max_length=MAX_NAME, pattern=r"^[A-Za-z0-9_.-]+$")
    endpoint: Endpoint = Field("", description="the agent's own API, http(s)://host:port; empty: none")
    local_cores: list[Cpu] = Field(min_length=1, max_length=MAX_CORES)
    memory_mb: int = Field(0, ge=0, le=MAX_MB)
    storage_mb: int = Field(0, ge=0, le=MAX_MB)
    gpus: int = Field(0, ge=0, le=64)
    core_offset: CoreOffset | None = None
    # The most CPUs this node may come to hold (a VM node's vCPU ceiling); None: never more
    # than local_cores. Later nodes' offsets start after this span.
    max_cores: int | None = Field(None, ge=1, le=MAX_CORES)
    reserved: list[Cpu] | None = Field(None, max_length=MAX_CORES)
    cluster: str = Field("default", min_length=1, max_length=MAX_NAME)
    # What the controller must present (Authorization: Bearer) when it calls this agent's own
    # API (job logs): chosen by the agent at random each time it starts. None: an agent that
    # has no such key (the controller then presents nothing).
    agent_key: str | None = Field(None, min_length=16, max_length=100, pattern=r"^[A-Za-z0-9_-]+$", repr=False)
    # How long the agent's jobs keep running while it cannot reach the controller (its
    # HEAVEN_AGENT_DISCONNECT_GRACE plus its stop grace: by then they are stopped). None: the
    # agent announces none, and its jobs are requeued as soon as the node times out.
    disconnect_grace: float | None = Field(None, ge=0, le=MAX_GRACE)


class AgentCores(Strict):
    """The node's CPUs changed live: vCPUs plugged (and brought online) or about to be
    unplugged. Removed CPUs are first taken from the jobs holding them (a shrink)."""
    local_cores: list[Cpu] = Field(min_length=1, max_length=MAX_CORES)
    reason: str = Field("", max_length=300)


class Started(Strict):
    job: Id
    run: Run
    pid: Pid


class Exited(Strict):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    job: Id
    run: Run  # which attempt ended: an old run's exit must not end a newer one
    exit_code: ExitCode
    # What the agent knows beyond the code: "out of memory" when its cgroup's OOM counter rose;
    # for a job that could not start, why not (a missing container image, a missing program).
    cause: str | None = Field(None, max_length=CAUSE_MAX)
    # What the run consumed, as its shim measured it once every process of it had ended: CPU
    # time (user + system) and peak memory. None: not measured (a container, an adopted process,
    # an agent from before these fields); the report then counts the run as unmeasured.
    cpu_seconds: float | None = Field(None, ge=0, le=MAX_CPU_SECONDS)
    peak_memory_mb: float | None = Field(None, ge=0, le=MAX_MB)


class JobSample(Strict):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    cpu_percent: float = Field(ge=0, le=100 * MAX_CORES)  # 100 per busy core
    # Runnable but waiting for a CPU, 100 per thread waiting throughout (heaven/agent/telemetry.py);
    # use + wait is the demand the usage window keeps. 0 from agents that do not measure it.
    wait_percent: float = Field(0.0, ge=0, le=100 * MAX_CORES)
    rss_mb: float = Field(ge=0, le=MAX_MB)
    pids: list[Pid] = Field(default_factory=list, max_length=100000)


class AgentReport(Strict):
    started: list[Started] = Field(default_factory=list, max_length=100000)
    exits: list[Exited] = Field(default_factory=list, max_length=100000)
    failed_to_start: list[Exited] = Field(default_factory=list, max_length=100000)
    jobs: dict[Id, JobSample] = Field(default_factory=dict, max_length=100000)
    node: dict | None = None
    # The agent is leaving after a drain: nothing new may land on its node.
    leaving: bool = False


class Assignment(BaseModel):
    id: int
    run: int  # attempt number; a requeued job placed again is a new run
    kind: str  # batch: start the command; adopted: pin the existing pid
    command: list[str]
    local_cores: list[int]
    memory_mb: int
    pid: int | None = None
    owner: str | None = None  # the submitting person's username: the agent may run the job as their account
    image: str | None = None  # a container image: the agent runs the job in a container if it has an engine
    # Suspended (HEAVEN_GIVEBACK=suspend): keep its process frozen (no cores: local_cores is empty);
    # listed again unsuspended, with cores, it is thawed and pinned to them.
    suspended: bool = False


class Assignments(BaseModel):
    generation: Generation
    jobs: list[Assignment]
