"""The original controller's wire protocol, kept byte-compatible at the root.

Field names and answers are those of the first Hot-Plug Heaven controller:
programs and agents written for it keep working unchanged. Extra keys are
ignored, as the original did.
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from heaven.wire.fields import MAX_CORES, MAX_NAME, CoreOffset, Endpoint, GlobalCore, Pid


class Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class LegacyRegister(Loose):
    vm_name: str = Field(min_length=1, max_length=MAX_NAME, pattern=r"^[A-Za-z0-9_.-]+$")
    # The agent's API (the controller pushes /allocate and /release to it); "" or absent: none.
    endpoint: Endpoint | None = None
    total_cores: int | None = Field(None, ge=1, le=MAX_CORES)
    core_offset: CoreOffset | None = None


class LegacyRequest(Loose):
    vm: str = Field(min_length=1, max_length=MAX_NAME)
    job: str = Field(min_length=1, max_length=200)
    pid: Pid
    cores_requested: int = Field(1, ge=1, le=MAX_CORES)


class LegacyComplete(Loose):
    vm: str = Field(min_length=1, max_length=MAX_NAME)
    job: str = Field(min_length=1, max_length=200)
    pid: Pid | None = None


class LegacyAllocate(Loose):
    job: str = Field(min_length=1, max_length=200)
    pid: Pid
    cores: list[GlobalCore] = Field(min_length=1, max_length=MAX_CORES)


class LegacyRelease(Loose):
    job: str = Field(min_length=1, max_length=200)
    keep_cores: list[GlobalCore] = Field(default_factory=list, max_length=MAX_CORES)
