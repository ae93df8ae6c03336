"""The original controller's wire protocol, kept byte-compatible at the root.

Field names and answers are those of the first Hot-Plug Heaven controller:
programs and agents written for it keep working unchanged. Extra keys are
ignored, as the original did.
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class LegacyRegister(Loose):
    vm_name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    endpoint: str | None = Field(None, max_length=300)
    total_cores: int | None = Field(None, ge=1, le=4096)
    core_offset: int | None = Field(None, ge=0, le=10**7)


class LegacyRequest(Loose):
    vm: str = Field(min_length=1, max_length=100)
    job: str = Field(min_length=1, max_length=200)
    pid: int = Field(ge=1)
    cores_requested: int = Field(1, ge=1, le=4096)


class LegacyComplete(Loose):
    vm: str = Field(min_length=1, max_length=100)
    job: str = Field(min_length=1, max_length=200)
    pid: int | None = None


class LegacyAllocate(Loose):
    job: str = Field(min_length=1, max_length=200)
    pid: int = Field(ge=1)
    cores: list[int] = Field(min_length=1, max_length=4096)


class LegacyRelease(Loose):
    job: str = Field(min_length=1, max_length=200)
    keep_cores: list[int] = Field(default_factory=list, max_length=4096)
