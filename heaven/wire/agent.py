"""The contract between the controller and its own agents.

Level-triggered: the agent long-polls for the full list of what should run on
its node and reconciles; it reports starts, exits and telemetry. A lost message
only delays convergence, it never loses a job or leaks a core.
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from heaven.wire.api import MAX_CORES, MAX_MB


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AgentRegister(Strict):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    endpoint: str = Field("", max_length=300)
    local_cores: list[int] = Field(min_length=1, max_length=MAX_CORES)
    memory_mb: int = Field(0, ge=0, le=MAX_MB)
    storage_mb: int = Field(0, ge=0, le=MAX_MB)
    gpus: int = Field(0, ge=0, le=64)
    core_offset: int | None = Field(None, ge=0, le=10**7)
    reserved: list[int] | None = None
    cluster: str = Field("default", min_length=1, max_length=100)


class Started(Strict):
    job: int
    run: int = Field(ge=0)
    pid: int = Field(ge=1)


class Exited(Strict):
    job: int
    run: int = Field(ge=0)  # which attempt ended: an old run's exit must not end a newer one
    exit_code: int


class JobSample(Strict):
    cpu_percent: float = Field(ge=0)
    rss_mb: float = Field(ge=0)
    pids: list[int] = Field(default_factory=list, max_length=100000)


class AgentReport(Strict):
    started: list[Started] = Field(default_factory=list)
    exits: list[Exited] = Field(default_factory=list)
    failed_to_start: list[Exited] = Field(default_factory=list)
    jobs: dict[int, JobSample] = Field(default_factory=dict)
    node: dict | None = None


class Assignment(BaseModel):
    id: int
    run: int  # attempt number; a requeued job placed again is a new run
    kind: str  # batch: start the command; adopted: pin the existing pid
    command: list[str]
    local_cores: list[int]
    memory_mb: int
    pid: int | None = None


class Assignments(BaseModel):
    generation: int
    jobs: list[Assignment]
