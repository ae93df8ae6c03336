"""Settings from ``HEAVEN_*`` environment variables (pydantic-settings), each with a default.

One class per process kind; the README lists every variable.
"""
from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ControllerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HEAVEN_")

    database_url: str = "sqlite:///heaven.db"
    host: str = "127.0.0.1"
    port: int = 8000
    scheduler_interval: float = Field(1.0, gt=0, description="seconds between scheduling cycles when nothing wakes the loop")
    node_timeout: float = Field(10.0, gt=0, description="seconds without heartbeat before a node is marked down")
    policy: str = Field("greedy", pattern="^(greedy|fcfs|easy|rl-backfill)$")
    placement: str = Field("best-fit", pattern="^(best-fit|least-loaded)$")
    reserve_cores: list[int] = Field(default_factory=list, description="kernel CPU numbers kept for the system on every node")
    legacy_timeout: float = Field(6.0, gt=0, description="seconds to wait on agents of the original protocol")
    start_timeout: float = Field(120.0, gt=0, description="seconds a placed job may wait for its agent to report a "
                                                          "process before it goes back to the queue")
    order: str = Field("priority", pattern="^(priority|fifo|sjf|f1)$")
    preempt: bool = Field(True, description="a waiting job of strictly higher priority may evict lower ones")
    victim_order: str = Field("newest-first", pattern="^(newest-first|oldest-first)$")
    # Core stealing: "on" moves idle cores live, "recommend" only records what it would move, "off".
    steal: str = Field("on", pattern="^(on|recommend|off)$")
    steal_headroom: float = Field(0.25, ge=0, description="a donor keeps ceil(used x (1 + headroom)) cores")
    steal_warmup: float = Field(5.0, ge=0, description="seconds a job runs before its usage is trusted")
    steal_cooldown: float = Field(10.0, ge=0, description="seconds between two live changes of one job")
    steal_window: int = Field(30, ge=1, le=3600, description="usage samples (one a second) the estimate looks at")
    min_cores_per_job: int = Field(1, ge=1, description="no job is ever shrunk below this many cores")
    retry_memory: str = Field("", pattern=r"^(\d+(\.\d+)?x(,\d+(\.\d+)?x)*)?$",
                              description="e.g. 2x,4x: a batch job its memory limit killed is requeued once per "
                                          "step, its memory request that many times the original; empty: never")
    # People and tokens. There is no default secret: without HEAVEN_SECRET_KEY the controller
    # generates one on first start and keeps it (mode 0600) in the data directory.
    data_dir: str | None = Field(None, description="where the signing secret lives (default: beside the SQLite "
                                                    "file, or the working directory)")
    secret_key: SecretStr | None = Field(None, min_length=32, description="signs access tokens; every replica needs the same")
    access_token_minutes: int = Field(15, ge=1, le=24 * 60, description="lifetime of a password login's JWT")
    # The original controller's protocol has no credentials at all: "auto" serves it only while
    # the controller listens on loopback (as `heaven up` does); "on" serves it on any address.
    original_protocol: str = Field("auto", pattern="^(auto|on|off)$")
    auth_cache_seconds: float = Field(5.0, ge=0, le=300, description="how long a token's caller is remembered "
                                      "(0: read on every request); see heaven/control/caller_cache.py")
    # Several replicas on one PostgreSQL (docs/high-availability.md): where this one serves
    # the API, as the others and the `not_leader` answer name it (default http://HOST:PORT).
    advertise_url: str = Field("", description="this replica's URL, as other replicas and clients reach it")
    max_body_bytes: int = Field(1024 * 1024, ge=1024, description="request bodies over this many bytes are "
                                                                    "refused with 413 before they are read")
    auth_rate_per_minute: int = Field(10, ge=1, le=100_000, description="register and token calls per client address")


class AgentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HEAVEN_AGENT_")

    name: str = ""
    cluster: str = "default"
    controller: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    port: int = 0  # 0: pick a free port
    cores: str = ""  # e.g. "0-3,6"; empty: every core this process may use
    memory_mb: int = 0  # 0: the machine's memory
    workdir: str = "var/agents"
    mode: str = "auto"  # cgroup | affinity | auto
    # The join token an organization admin made (HEAVEN_AGENT_TOKEN); traded at registration
    # for the node's own credential, which every later call carries.
    token: SecretStr | None = None
    heartbeat: float = Field(1.0, gt=0)
    stop_grace: float = Field(5.0, ge=0)
    # Which account jobs run as (heaven/agent/accounts.py): person | user:NAME | root; unset:
    # the agent's own, or the unprivileged `heaven` account when the agent is root.
    run_as: str = Field("", validation_alias=AliasChoices("HEAVEN_RUN_AS", "HEAVEN_AGENT_RUN_AS", "run_as"))


class ClientSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HEAVEN_")

    url: str = "http://127.0.0.1:8000"  # or several replicas, URL1,URL2: the next is tried when one is unreachable
    token: str | None = None  # HEAVEN_TOKEN: used instead of the one `heaven login` stored
