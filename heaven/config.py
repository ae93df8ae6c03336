"""Settings from ``HEAVEN_*`` environment variables (pydantic-settings), each with a default.

One class per process kind; the README lists every variable.
"""
from __future__ import annotations

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The CLI's settings: two variables read without pydantic-settings, so a command starts fast.
from heaven.client.settings import ClientSettings  # noqa: F401 (re-exported)
from heaven.wire.fields import retry_memory_factors


# A container engine this machine's own: its socket, or a TCP port on loopback (nothing leaves).
LOOPBACK_ENGINE = r"^(unix:///\S+|tcp://(127\.0\.0\.1|localhost|\[::1\]):\d{1,5})$"


class PoolSpec(BaseModel):
    """One node pool (docs/autoscaling.md): which cluster it feeds, through which provider,
    and its rules. Given in HEAVEN_POOLS as a JSON list; the threshold settings also take
    the original gateway's names (INITIAL_WORKERS, MAX_CPU_THRESHOLD, PRESPAWN_THRESHOLD)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,39}$", description="its nodes are named NAME-1, NAME-2, ...")
    org: str = Field("default", min_length=1, max_length=100, description="the organization owning the cluster")
    cluster: str = Field("default", min_length=1, max_length=100)
    provider: str = Field("local", pattern=r"^[a-z][a-z0-9_-]{0,39}$",
                          description="local | command | docker (more by plug-in)")
    min_nodes: int = Field(0, ge=0, le=1000)
    max_nodes: int = Field(1, ge=1, le=1000)
    initial_workers: int = Field(0, ge=0, le=1000, validation_alias=AliasChoices("INITIAL_WORKERS", "initial_workers"))
    max_cpu_threshold: float = Field(80.0, gt=0, le=100, validation_alias=AliasChoices("MAX_CPU_THRESHOLD",
                                                                                      "max_cpu_threshold"))
    prespawn_threshold: float = Field(70.0, gt=0, le=100, validation_alias=AliasChoices("PRESPAWN_THRESHOLD",
                                                                                       "prespawn_threshold"))
    scale_in_cooldown: float = Field(60.0, ge=0, le=86400, validation_alias=AliasChoices("SCALE_IN_COOLDOWN",
                                                                                        "scale_in_cooldown"))
    launch_timeout: float = Field(60.0, gt=0, le=3600, description="seconds a started node may take to join")
    node_cores: int = Field(1, ge=1, le=4096, description="cores of each node the pool starts")
    controller_url: str | None = Field(None, description="what its agents call (default: this controller)")
    # local and docker providers: the CPUs their agents split among them (default: every CPU this
    # process may use), and the agents' work directory (a docker node's only writable mount)
    cpus: list[int] | None = None
    workdir: str = "var/agents"
    # docker provider: the engine (default: DOCKER_HOST, else /var/run/docker.sock; loopback only)
    # and the image its agents run in (built locally, never pulled: docs/autoscaling.md)
    docker_host: str | None = Field(None, pattern=LOOPBACK_ENGINE,
                                    description="unix:///PATH or tcp://127.0.0.1:PORT")
    image: str = Field("heaven/agent-host:1", pattern=r"^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$")
    # command provider: the operator's scripts (argv lists, run without a shell)
    create: list[str] | None = None
    delete: list[str] | None = None
    command_timeout: float = Field(60.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _consistent(self) -> PoolSpec:
        if self.min_nodes > self.max_nodes:
            raise ValueError(f"min_nodes {self.min_nodes} is above max_nodes {self.max_nodes}")
        if self.initial_workers > self.max_nodes:
            raise ValueError(f"INITIAL_WORKERS {self.initial_workers} is above max_nodes {self.max_nodes}")
        if self.provider == "command" and not (self.create and self.delete):
            raise ValueError("the command provider needs both create and delete commands")
        return self


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
    giveback: str = Field("requeue", pattern="^(requeue|suspend)$",
                          description="what a running job evicted for another becomes: requeued (killed), or "
                                      "suspended (frozen on its node, resumed there when cores free up)")
    # Core stealing: "on" moves idle cores live, "recommend" only records what it would move, "off".
    steal: str = Field("on", pattern="^(on|recommend|off)$")
    steal_headroom: float = Field(0.25, ge=0, description="a donor keeps ceil(used x (1 + headroom)) cores")
    steal_warmup: float = Field(5.0, ge=0, description="seconds a job runs before its usage is trusted")
    steal_cooldown: float = Field(10.0, ge=0, description="seconds between two live changes of one job")
    steal_window: int = Field(30, ge=1, le=3600, description="usage samples (one a second) the estimate looks at")
    min_cores_per_job: int = Field(1, ge=1, description="no job is ever shrunk below this many cores")
    retry_memory: str = Field("",
                              description="e.g. 2x,4x: a batch job its memory limit killed is requeued once per "
                                          "step, its memory request that many times the original; empty: never. A job's "
                                          "own --retry-memory wins")
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
    # Slow clients (heaven/control/slow_clients.py): neither bounds how long an answer may take.
    request_read_timeout: float = Field(10.0, gt=0, le=3600, description="seconds a request (head and body) may "
                                        "take to arrive; slower: 408 and the connection is closed")
    response_write_timeout: float = Field(30.0, gt=0, le=3600, description="seconds a client may leave its answer "
                                          "unread (the send buffer full) before it is dropped")
    auth_rate_per_minute: int = Field(10, ge=1, le=100_000, description="register and token calls per client address")
    # Generous by default: a flood guard, not a quota (a benchmark submits about 350 a second).
    write_rate_per_minute: int = Field(6000, ge=0, le=10_000_000,
                                       description="API writes (POST, PUT, PATCH, DELETE) per caller; 0: no limit")
    # Node pools that scale (docs/autoscaling.md): a JSON list of PoolSpec.
    pools: list[PoolSpec] = Field(default_factory=list)
    autoscale_interval: float = Field(1.0, gt=0, le=3600, description="seconds between two looks of the autoscaler")
    # Fair share between organizations sharing a cluster (docs/fair-share.md).
    fairshare: bool = Field(False, description="order the queue across organizations by decayed usage over weight")
    fairshare_half_life: float = Field(7 * 24 * 3600.0, gt=0, description="seconds for past usage to count half "
                                       "(Slurm's PriorityDecayHalfLife)")
    fairshare_weights: dict[str, float] = Field(default_factory=dict, description='JSON {"ORG_ID/CLUSTER": weight}; '
                                                "1 where not given")

    @field_validator("fairshare_weights")
    @classmethod
    def _weights(cls, value: dict[str, float]) -> dict[str, float]:
        fairshare_weights(value)
        return value

    @field_validator("retry_memory")
    @classmethod
    def _retry_steps(cls, value: str) -> str:
        retry_memory_factors(value)
        return value

    @model_validator(mode="after")
    def _pool_names_unique(self) -> ControllerSettings:
        names = [p.name for p in self.pools]
        if len(names) != len(set(names)):
            raise ValueError(f"pools: two pools share a name ({', '.join(sorted(names))})")
        return self


def fairshare_weights(value: dict[str, float]) -> tuple[tuple[tuple[int, str], float], ...]:
    """HEAVEN_FAIRSHARE_WEIGHTS as the core's pairs: each key "ORG_ID/CLUSTER", each weight > 0."""
    pairs = []
    for key, weight in value.items():
        org, sep, cluster = key.partition("/")
        if not sep or not org.strip().isdigit() or not cluster.strip():
            raise ValueError(f"fairshare_weights: key {key!r} is not ORG_ID/CLUSTER (e.g. \"1/default\")")
        if not weight > 0:
            raise ValueError(f"fairshare_weights: weight of {key!r} must be > 0, not {weight:g}")
        pairs.append(((int(org), cluster.strip()), float(weight)))
    return tuple(pairs)


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
    stop_grace: float = Field(5.0, ge=0, le=24 * 3600)
    # Nomad's `disconnect` block: jobs keep running this long without contact with the
    # controller, then their shims stop them (SIGTERM, SIGKILL after stop_grace). The agent
    # announces grace + stop_grace; the controller requeues a silent node's jobs only after
    # HEAVEN_NODE_TIMEOUT plus that, so a job never runs twice.
    disconnect_grace: float = Field(30.0, ge=0, le=7 * 24 * 3600,
                                    description="seconds jobs outlive the agent's contact with the controller")
    # Which account jobs run as (heaven/agent/accounts.py): person | user:NAME | root; unset:
    # the agent's own, or the unprivileged `heaven` account when the agent is root.
    run_as: str = Field("", validation_alias=AliasChoices("HEAVEN_RUN_AS", "HEAVEN_AGENT_RUN_AS", "run_as"))
    # A VM node (docs/vm-nodes.md): bring hot-plugged CPUs online and report them; register
    # max_cores (the VM's vCPU ceiling); advertise the API where the controller reaches it
    # (a port forward); host_key: what the VM's host side presents to ask for a CPU's release.
    hotplug: bool = False
    max_cores: int = Field(0, ge=0, le=4096)
    advertise: str = ""
    host_key: SecretStr | None = None


def _either(name: str, field: str | None = None):
    """A gateway setting read as HEAVEN_GATEWAY_FIELD or, as the orchestrator it replaces read it, NAME."""
    field = field or name.lower()
    return AliasChoices(f"HEAVEN_GATEWAY_{field.upper()}", name, field)


class GatewaySettings(BaseSettings):
    """The gateway (heaven/gateway); it reaches the controller as the CLI does (ClientSettings)."""

    model_config = SettingsConfigDict(env_prefix="HEAVEN_GATEWAY_", populate_by_name=True)

    host: str = "127.0.0.1"
    port: int = Field(3000, ge=0, le=65535, validation_alias=_either("GATEWAY_PORT", "port"))
    max_cpu_threshold: float = Field(80.0, gt=0, le=100, validation_alias=_either("MAX_CPU_THRESHOLD"))
    prespawn_threshold: float = Field(70.0, gt=0, le=100, validation_alias=_either("PRESPAWN_THRESHOLD"))
    initial_workers: int = Field(1, ge=0, le=1024, validation_alias=_either("INITIAL_WORKERS"))
    max_workers: int = Field(0, ge=0, le=1024, description="0: as many as there are free cores")
    worker_cores: int = Field(1, ge=1, le=1024, description="cores of each worker (a call is split across them)")
    cooldown: float = Field(30.0, ge=0, description="seconds an extra worker stays idle before it is retired")
    queue_timeout: float = Field(300.0, gt=0, description="seconds a call waits for a worker with room before a 503")
    start_timeout: float = Field(120.0, gt=0, description="seconds a new worker may take to answer before it is retired")
    cluster: str = Field("default", min_length=1, description="the cluster its workers run in")
    name: str = Field("gateway", pattern=r"^[a-z0-9][a-z0-9-]{0,62}$",
                      description="its workers are named NAME-…-worker-N; a gateway adopts the running workers "
                                  "of an earlier gateway of the same name, account and cluster")
