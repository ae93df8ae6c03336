"""ORM-free table definitions (SQLAlchemy Core): the store's own model family.

Allocations live in ``core_claims``, one row per granted core with the global
core index as primary key: the database itself refuses to give one core to two
jobs, whatever bug a caller may have.
"""
from __future__ import annotations

from sqlalchemy import (JSON, Boolean, Column, Float, ForeignKey, Index, Integer, MetaData, String, Table, Text,
                        UniqueConstraint, false)

metadata = MetaData()

organizations = Table(
    "organizations", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    # Whoever holds the code may join as a member; admins regenerate it to shut old codes out.
    Column("invite_code", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_organizations_invite_code", "invite_code", unique=True),
)

people = Table(
    "people", metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(64), nullable=False, unique=True),  # stored lower-case
    Column("email", String(254), nullable=False, unique=True),  # stored lower-case
    Column("password_hash", String(200), nullable=False),  # argon2id, never the password
    Column("created_at", Float, nullable=False),
)

memberships = Table(
    "memberships", metadata,
    Column("org_id", Integer, ForeignKey("organizations.id"), primary_key=True),
    Column("person_id", Integer, ForeignKey("people.id"), primary_key=True, index=True),
    Column("role", String(20), nullable=False),  # owner | admin | member; exactly one owner per organization
    Column("joined_at", Float, nullable=False),
)

api_tokens = Table(
    "api_tokens", metadata,
    Column("id", Integer, primary_key=True),
    Column("person_id", Integer, ForeignKey("people.id"), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    # sha256 of the secret: the secret itself is shown once and never stored. A fast hash
    # is enough because the secret is 32 random bytes, not something a person chose.
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float),  # None: until revoked
)

# Access tokens (JWTs) cannot be taken back by the signer, so logout writes their jti
# here until the moment they would have expired anyway.
revoked_tokens = Table(
    "revoked_tokens", metadata,
    Column("jti", String(64), primary_key=True),
    Column("expires_at", Float, nullable=False, index=True),
)

nodes = Table(
    "nodes", metadata,
    Column("id", Integer, primary_key=True),
    Column("org_id", Integer, ForeignKey("organizations.id"), nullable=False),
    Column("name", String(100), nullable=False, unique=True),
    Column("cluster", String(100), nullable=False, default="default"),
    Column("endpoint", String(300), nullable=False, default=""),
    Column("kind", String(20), nullable=False, default="heaven"),  # heaven | legacy
    Column("core_offset", Integer, nullable=False),
    Column("local_cores", JSON, nullable=False),
    # The most cores this node may hold (a VM node's vCPU ceiling): its offset range is kept
    # that wide so hot-plugged cores get global indices no other node has. None: as registered.
    Column("max_cores", Integer),
    Column("reserved", JSON, nullable=False, default=list),
    Column("memory_mb", Integer, nullable=False, default=0),
    Column("storage_mb", Integer, nullable=False, default=0),
    Column("gpus", Integer, nullable=False, default=0),
    Column("state", String(20), nullable=False),
    Column("last_heartbeat", Float, nullable=False),
    # Seconds its agent keeps jobs running without reaching the controller (its
    # HEAVEN_AGENT_DISCONNECT_GRACE, announced at registration): the controller requeues the
    # jobs of a silent node only after it. None: an agent that announces none (0).
    Column("disconnect_grace", Float),
    Column("telemetry", JSON, nullable=False, default=dict),
    # sha256 of the node's own credential, issued when its agent joined with a join token;
    # None for nodes of the original protocol, which has no credentials.
    Column("credential_hash", String(64)),
    # What the controller presents when it calls this node's agent (logs): the agent chose it
    # when it joined. Kept as is, since the controller must send it (as an API server keeps
    # the kubelet's client credentials).
    Column("agent_key", String(100)),
)

# What an agent presents once, to join: made by an organization's admin, it puts the node
# in that organization. The agent then uses the node credential it was given instead.
join_tokens = Table(
    "join_tokens", metadata,
    Column("id", Integer, primary_key=True),
    Column("org_id", Integer, ForeignKey("organizations.id"), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),  # sha256, as for API tokens
    Column("created_at", Float, nullable=False),
    Column("cluster", String(100)),  # the cluster its nodes join (None: "default")
)

jobs = Table(
    "jobs", metadata,
    Column("id", Integer, primary_key=True),
    Column("org_id", Integer, ForeignKey("organizations.id"), nullable=False),
    # Who submitted it; None for jobs of the original protocol and those from before owners.
    Column("owner_id", Integer, ForeignKey("people.id")),
    Column("name", String(200), nullable=False),
    Column("kind", String(20), nullable=False, default="batch"),  # batch | adopted | service
    Column("command", JSON, nullable=False),
    Column("cores", Integer, nullable=False),
    Column("min_cores", Integer, nullable=False),
    Column("memory_mb", Integer, nullable=False, default=0),
    Column("storage_mb", Integer, nullable=False, default=0),
    Column("gpus", Integer, nullable=False, default=0),
    Column("priority", Integer, nullable=False, default=0),
    Column("node_pin", String(100)),
    Column("cluster", String(100)),
    Column("walltime", Float),
    Column("retry_memory", String(200), nullable=True),  # None: the controller's HEAVEN_RETRY_MEMORY
    Column("state", String(20), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("node", String(100)),  # where it runs (or last ran)
    Column("gpu_ids", JSON, nullable=False, default=list),
    Column("pid", Integer),
    Column("pids", JSON, nullable=False, default=list),
    Column("cpu_percent", Float),
    Column("rss_mb", Float),
    Column("exit_code", Integer),
    Column("submitted_at", Float, nullable=False),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("runs", Integer, nullable=False, default=0),  # how many times it was started
    # [{"job": id, "type": "afterok" | "afterany"}]: the jobs this one waits for.
    Column("depends_on", JSON, nullable=False, default=list),
    # The last CPU% samples of the running attempt (newest last), for the usage estimate.
    Column("usage", JSON, nullable=False, default=list),
    Column("resized_at", Float),  # last live shrink or grow: the cool-down starts here
    Column("nodes", Integer, nullable=False, default=1),  # a gang runs a part on each of this many nodes
    Column("part_exits", JSON, nullable=False, default=dict),  # gang: {node: exit code} of the parts that ended
    # Where the scheduler's last look at the head of the queue put this pending job (1 = next).
    Column("queue_position", Integer),
    Column("assigned_at", Float),  # when the current attempt was placed (started_at: when its process began)
    Column("docker_image", String(300)),  # a service's container image (None: it runs ``command``)
    # Created but not started: the scheduler does not see it until someone starts it.
    Column("held", Boolean, nullable=False, default=False, server_default=false()),
    Column("not_before", Float),  # a crashed service waits here for the end of its back-off
    Column("restarts", Integer, nullable=False, default=0),  # how often a service was restarted after a crash
    Column("released_at", Float),  # when a held deployment was started (its hold released)
    Index("ix_jobs_state", "state"),
    Index("ix_jobs_org_id", "org_id"),
    Index("ix_jobs_node_name", "node_pin", "name"),
)

core_claims = Table(
    "core_claims", metadata,
    Column("core", Integer, primary_key=True),  # global index in the core map
    Column("job_id", Integer, ForeignKey("jobs.id"), nullable=False, index=True),
    Column("node", String(100), nullable=False),
    Column("lent_by", Integer),  # the donor this core was taken from by stealing; it may take it back
)

# A cluster's name is its organization's own: nodes and jobs name it, and with their
# organization that names one cluster.
clusters = Table(
    "clusters", metadata,
    Column("id", Integer, primary_key=True),
    Column("org_id", Integer, ForeignKey("organizations.id"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("quota_cores", Integer),  # None: no quota
    Column("quota_memory_mb", Integer),
    Column("quota_gpus", Integer),
    Column("creator_id", Integer, ForeignKey("people.id")),  # None: made before people existed
    Column("created_at", Float),
    UniqueConstraint("org_id", "name", name="uq_clusters_org_name"),
)

events = Table(
    "events", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("ts", Float, nullable=False),
    Column("action", String(40), nullable=False),
    Column("detail", Text, nullable=False, default=""),
    Column("actor", String(100), nullable=False, default="system"),
    Column("job", Integer),
    Column("node", String(100)),
    Column("org_id", Integer),
    # One organization's newest events (the dashboard's version, its activity log) and one
    # job's history are read on every refresh: neither may scan the whole log.
    Index("ix_events_org_seq", "org_id", "seq"),
    Index("ix_events_job", "job"),
)

# One row (id 1): the replica that runs the scheduler loop and its epoch, bumped on every
# take-over. A plan carries the epoch it was made under; apply_plan refuses an older one.
leadership = Table(
    "leadership", metadata,
    Column("id", Integer, primary_key=True),
    Column("epoch", Integer, nullable=False),
    Column("holder", String(200), nullable=False),  # host:pid of the replica
    Column("url", String(500), nullable=False),  # where it serves the API
    Column("since", Float, nullable=False),
)
