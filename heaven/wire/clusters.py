"""The REST contract of clusters: the product's (/api/v1/clusters) and the deployment
service's at the root (/clusters/), two shapes over the same figures.

A cluster has a fixed quota (cores, memory in MB, GPUs; None: no limit) and live
figures: ``allocated`` is what ``heaven.store.clusters.booked`` counts, ``available``
the quota minus that. The root shape names them as that service did: ``total_cpu``
(cores), ``total_ram`` (GB, see docs/clusters.md), ``total_gpu`` and ``available_*``.
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from heaven.wire.api import Strict
from heaven.wire.fields import MAX_MB, MAX_NAME, MAX_ROOT_RAM_GB, Id

CLUSTER_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
MAX_QUOTA_CORES, MAX_QUOTA_GPUS = 10**7, 10**5


class ClusterQuotaIn(Strict):
    """Only the fields given change; ``null`` removes that limit."""
    quota_cores: int | None = Field(None, ge=0, le=MAX_QUOTA_CORES)
    quota_memory_mb: int | None = Field(None, ge=0, le=MAX_MB)
    quota_gpus: int | None = Field(None, ge=0, le=MAX_QUOTA_GPUS)


class ClusterCreate(ClusterQuotaIn):
    name: str = Field(min_length=1, max_length=MAX_NAME, pattern=CLUSTER_NAME)
    org: str | None = Field(None, min_length=1, max_length=100, pattern=r"^[^\x00]+$",
                            description="the organization (name or id); default: the caller's only or first")


class Quota(BaseModel):
    cores: int | None
    memory_mb: int | None
    gpus: int | None


class Figures(BaseModel):
    cores: int
    memory_mb: int
    gpus: int


class ClusterOut(BaseModel):
    id: int
    org_id: int
    name: str
    nodes: list[str]
    quota: Quota  # fixed; None: no limit on that resource
    allocated: Figures  # what its jobs hold now (heaven.store.clusters.booked)
    available: Quota  # quota minus allocated, never below 0; None where there is no limit
    creator_id: int | None
    created_at: float | None


class ClusterJoinTokenIn(Strict):
    name: str = Field("agents", min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@:+/ -]*$",
                      description="what it is for, e.g. rack-3")


# -- the deployment service's shapes, at the root -----------------------------------------------

class Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")  # as that service's models did


class RootClusterIn(Loose):
    name: str = Field(min_length=1, max_length=MAX_NAME, pattern=CLUSTER_NAME)
    total_ram: int = Field(ge=0, le=MAX_ROOT_RAM_GB, description="GB")
    total_cpu: int = Field(ge=0, le=MAX_QUOTA_CORES, description="cores")
    total_gpu: int = Field(0, ge=0, le=MAX_QUOTA_GPUS)
    organization_id: Id


class RootClusterUpdate(Loose):
    name: str | None = Field(None, min_length=1, max_length=MAX_NAME, pattern=CLUSTER_NAME)
    total_ram: int | None = Field(None, ge=0, le=MAX_ROOT_RAM_GB, description="GB")
    total_cpu: int | None = Field(None, ge=0, le=MAX_QUOTA_CORES, description="cores")
    total_gpu: int | None = Field(None, ge=0, le=MAX_QUOTA_GPUS)


class RootClusterOut(BaseModel):
    id: int
    name: str
    total_ram: int | None  # None: a cluster made by a node joining it, without a quota
    total_cpu: int | None
    total_gpu: int | None
    organization_id: int
    available_ram: int | None
    available_cpu: int | None
    available_gpu: int | None
    creator_id: int | None
    created_at: str | None  # ISO 8601, UTC, as that service's datetimes serialized
