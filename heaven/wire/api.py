"""The REST contract under /api/v1: request and response bodies.

Limits live here, once: the API's 4xx messages name them and the CLI prints those.
"""
from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from heaven.wire.fields import MAX_CORES, MAX_MB, MAX_NAME, Id, retry_memory_factors

__all__ = ["MAX_CORES", "MAX_MB"]  # re-exported: importers of the limits predate heaven.wire.fields
NAME = Field(default=None, min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.@:+/-][A-Za-z0-9_.@:+/ -]*$")
IMAGE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:/@-]*$"  # a container image: registry/name:tag@digest
IMAGE = Field(None, min_length=1, max_length=300, pattern=IMAGE_PATTERN)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


PRIORITY_CLASSES = {"low": -100, "normal": 0, "high": 100, "critical": 1000}


def program_checked(command: list[str]) -> list[str]:
    """A command's program: non-empty, bounded, without NUL bytes (exec refuses those)."""
    if any(not arg or len(arg) > 65536 or "\x00" in arg for arg in command[:1]):
        raise ValueError("command[0] must be a non-empty program name without NUL bytes")
    return command


def job_priority(value: int | str) -> int:
    """The rule of ``heaven submit`` (and of deployments): an integer in -1000..1000, or a class name."""
    if isinstance(value, str):
        if value not in PRIORITY_CLASSES:
            raise ValueError(f"must be an integer or one of {', '.join(PRIORITY_CLASSES)}")
        return PRIORITY_CLASSES[value]
    if not -1000 <= value <= 1000:
        raise ValueError("must be between -1000 and 1000")
    return value


class JobSubmit(Strict):
    name: str | None = NAME
    command: list[str] = Field(min_length=1, max_length=1000)
    cores: int = Field(1, ge=1, le=MAX_CORES)
    min_cores: int | None = Field(None, ge=1, le=MAX_CORES)
    memory_mb: int = Field(0, ge=0, le=MAX_MB)
    storage_mb: int = Field(0, ge=0, le=MAX_MB)
    gpus: int = Field(0, ge=0, le=64)
    # An integer, or a class name: low (-100), normal (0), high (100), critical (1000).
    priority: int | str = 0
    node: str | None = Field(None, min_length=1, max_length=MAX_NAME)
    walltime: float | None = Field(None, gt=0, le=365 * 86400)
    nodes: int = Field(1, ge=1, le=1024, description="a gang: cores (memory, GPUs) on each of this many nodes at once")
    after: list[Id] = Field(default_factory=list, max_length=100, description="start after these jobs succeed")
    after_any: list[Id] = Field(default_factory=list, max_length=100, description="start after these jobs end")
    cluster: str | None = Field(None, min_length=1, max_length=MAX_NAME)
    org: str | None = Field(None, min_length=1, max_length=100, pattern=r"^[^\x00]+$",
                            description="the organization (name or id); default: the submitter's only or first")
    no_wait: bool = False
    # Run the command in a container of this image, on a node with a container engine (never pulled).
    docker_image: str | None = IMAGE
    retry_memory: str | None = Field(None, max_length=200,
                                     description="e.g. 2x,4x: killed by its memory limit, it is requeued once per "
                                                 "step with that many times its original request; \"\": never; "
                                                 "absent: the controller's HEAVEN_RETRY_MEMORY")

    @field_validator("priority")
    @classmethod
    def _priority(cls, value: int | str) -> int:
        return job_priority(value)

    @field_validator("retry_memory")
    @classmethod
    def _retry_steps(cls, value: str | None) -> str | None:
        if value is not None:
            retry_memory_factors(value)
        return value

    @model_validator(mode="after")
    def _min_not_above_cores(self):
        if self.min_cores is not None and self.min_cores > self.cores:
            raise ValueError(f"min_cores ({self.min_cores}) must not exceed cores ({self.cores})")
        program_checked(self.command)
        return self


class JobOut(BaseModel):
    id: int
    org_id: int
    owner_id: int | None  # None: submitted through the original protocol, or before jobs had owners
    name: str
    kind: str
    state: str
    reason: str
    queue_position: int | None = None
    command: list[str]
    docker_image: str | None = None
    cores_requested: int
    min_cores: int
    memory_mb: int
    storage_mb: int
    gpus: int
    priority: int
    node: str | None
    cores: list[int]
    local_cores: list[int]
    gpu_ids: list[int]
    pid: int | None
    pids: list[int]
    cpu_percent: float | None
    rss_mb: float | None
    exit_code: int | None
    walltime: float | None
    retry_memory: str | None = None  # None: the controller's setting applies
    depends_on: list[dict]
    cluster: str | None
    nodes: int  # how many nodes it asked for (a gang when more than one)
    placed_on: list[str]  # the nodes it runs on now
    submitted_at: float
    started_at: float | None
    finished_at: float | None
    runs: int


class NodeOut(BaseModel):
    name: str
    kind: str
    state: str
    endpoint: str
    cluster: str
    core_offset: int
    local_cores: list[int]
    reserved: list[int]
    total_cores: int
    free_cores: int
    memory_mb: int
    storage_mb: int
    gpus: int
    last_heartbeat: float
    telemetry: dict


class EventOut(BaseModel):
    seq: int
    ts: float
    action: str
    detail: str
    actor: str
    job: int | None
    node: str | None


class ErrorOut(BaseModel):
    error: str
    message: str
    field: str | None = None
