"""The HTTP contract of deployments: the product's /api/v1/deployments and the root
/deployments/ of the deployment service this product replaces.

A deployment is a job of kind ``service``. The two APIs name its request differently;
the conversions between their words live here, once:

- root ``priority`` 1, 2, 3 are low, medium and high (3 is the highest), the job
  priorities -100, 0 and 100 (the classes low, normal and high of ``heaven submit``);
  a job priority reads back as 1 below 0, 2 from 0 to 99, 3 from 100.
- root ``required_ram`` is in GB (1 GB = 1024 MB of ``memory_mb``); ``required_cpu``
  is whole cores; ``required_gpu`` whole GPUs.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from heaven.wire.api import IMAGE, IMAGE_PATTERN, PRIORITY_CLASSES, Strict, job_priority, program_checked
from heaven.wire.fields import MAX_CORES, MAX_INT, MAX_MB, MAX_NAME, MAX_ROOT_RAM_GB, Id

STATUSES = ("pending", "running", "completed", "failed", "cancelled")
Status = Literal["pending", "running", "completed", "failed", "cancelled"]
StopStatus = Literal["completed", "failed"]
NAME_PATTERN = r"^[A-Za-z0-9_.@:+/-][A-Za-z0-9_.@:+/ -]*$"  # as a job's name
MAX_DEPENDENCIES = 100

ROOT_PRIORITIES = {1: PRIORITY_CLASSES["low"], 2: PRIORITY_CLASSES["normal"], 3: PRIORITY_CLASSES["high"]}


def root_priority(priority: int) -> int:
    """A job priority as the root API's 1 (low), 2 (medium) or 3 (high)."""
    return 1 if priority < ROOT_PRIORITIES[2] else 2 if priority < ROOT_PRIORITIES[3] else 3


class DeploymentIn(Strict):
    """A new deployment (product API). It stays pending (held) until it is started."""

    name: str = Field(min_length=1, max_length=200, pattern=NAME_PATTERN)
    command: list[str] | None = Field(None, min_length=1, max_length=1000)
    docker_image: str | None = IMAGE
    cores: int = Field(1, ge=1, le=MAX_CORES)
    memory_mb: int = Field(0, ge=0, le=MAX_MB)
    gpus: int = Field(0, ge=0, le=64)
    priority: int | str = 0
    cluster: str = Field("default", min_length=1, max_length=MAX_NAME, pattern=r"^[A-Za-z0-9_.:@+-][A-Za-z0-9_.:@+ -]*$")
    org: str | None = Field(None, min_length=1, max_length=100, pattern=r"^[^\x00]+$",
                            description="the organization (name or id); default: the caller's only or first")
    after: list[Id] = Field(default_factory=list, max_length=MAX_DEPENDENCIES,
                            description="deployments that must have completed before this one starts")

    @field_validator("priority")
    @classmethod
    def _priority(cls, value: int | str) -> int:
        return job_priority(value)

    @model_validator(mode="after")
    def _runs_something(self):
        if self.command is None and self.docker_image is None:
            raise ValueError("command or docker_image is required")
        if self.command is not None:
            program_checked(self.command)
        return self


class DeploymentUpdate(Strict):
    """What a pending, not yet started deployment may change (absent fields stay)."""

    name: str | None = Field(None, min_length=1, max_length=200, pattern=NAME_PATTERN)
    command: list[str] | None = Field(None, min_length=1, max_length=1000)
    docker_image: str | None = IMAGE
    cores: int | None = Field(None, ge=1, le=MAX_CORES)
    memory_mb: int | None = Field(None, ge=0, le=MAX_MB)
    gpus: int | None = Field(None, ge=0, le=64)
    priority: int | str | None = None
    after: list[Id] | None = Field(None, max_length=MAX_DEPENDENCIES)

    @field_validator("priority")
    @classmethod
    def _priority(cls, value: int | str | None) -> int | None:
        return None if value is None else job_priority(value)

    @field_validator("command")
    @classmethod
    def _program(cls, value: list[str] | None) -> list[str] | None:
        return value if value is None else program_checked(value)


class DeploymentOut(BaseModel):
    id: int
    org_id: int
    owner_id: int | None
    name: str
    status: Status
    state: str  # the job's own state (pending, assigned, running, ...)
    started: bool  # someone started it (false: held, created only)
    reason: str  # why it waits: no node yet, a back-off, a quota
    command: list[str]
    docker_image: str | None
    cores: int
    memory_mb: int
    gpus: int
    priority: int
    cluster: str
    after: list[int]
    node: str | None  # the node running it now (None: no node runs it)
    restarts: int
    not_before: float | None  # the end of its crash back-off
    exit_code: int | None
    submitted_at: float
    released_at: float | None
    started_at: float | None
    finished_at: float | None


# -- the root API of the deployment service this product replaces ------------------------
class RootDeploymentIn(BaseModel):
    """As that service took it (unknown fields are ignored, as it did)."""

    name: str = Field(min_length=1, max_length=200, pattern=NAME_PATTERN)
    docker_image: str = Field(min_length=1, max_length=300, pattern=IMAGE_PATTERN)
    required_ram: int = Field(0, ge=0, le=MAX_ROOT_RAM_GB, description="GB")
    required_cpu: int = Field(1, ge=1, le=MAX_CORES, description="cores")
    required_gpu: int = Field(0, ge=0, le=64)
    priority: Literal[1, 2, 3] = Field(2, description="1 low, 2 medium, 3 high")
    cluster_id: int = Field(ge=1, le=MAX_INT)
    dependency_ids: list[Id] = Field(default_factory=list, max_length=MAX_DEPENDENCIES)


class RootDeploymentUpdate(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=200, pattern=NAME_PATTERN)
    docker_image: str | None = Field(None, min_length=1, max_length=300, pattern=IMAGE_PATTERN)
    required_ram: int | None = Field(None, ge=0, le=MAX_ROOT_RAM_GB)
    required_cpu: int | None = Field(None, ge=1, le=MAX_CORES)
    required_gpu: int | None = Field(None, ge=0, le=64)
    priority: Literal[1, 2, 3] | None = None
    cluster_id: int | None = Field(None, ge=1, le=MAX_INT)
    dependency_ids: list[Id] | None = Field(None, max_length=MAX_DEPENDENCIES)


class RootLink(BaseModel):
    id: int
    name: str
    status: Status


class RootDeploymentOut(BaseModel):
    name: str
    docker_image: str | None
    required_ram: int
    required_cpu: int
    required_gpu: int
    priority: int
    cluster_id: int | None
    dependency_ids: list[int]
    id: int
    status: Status
    user_id: int | None
    # UTC without an offset, as that service answered (heaven.wire.people.iso): not an
    # RFC 3339 date-time, so not documented as one.
    created_at: str
    started_at: str | None
    dependencies: list[RootLink]
    dependents: list[RootLink]
