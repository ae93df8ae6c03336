"""Node rows: registration, heartbeats, and the move to ``down``."""
from __future__ import annotations

from sqlalchemy import Connection, delete, insert, select, update

from heaven.core.states import NodeState, check_node_transition
from heaven.store import events
from heaven.store.tables import core_claims, nodes


def get(conn: Connection, name: str) -> dict | None:
    row = conn.execute(select(nodes).where(nodes.c.name == name)).first()
    return dict(row._mapping) if row else None


def listing(conn: Connection) -> list[dict]:
    return [dict(r._mapping) for r in conn.execute(select(nodes).order_by(nodes.c.core_offset))]


def span(row) -> int:
    """How many global core indices a node occupies from its offset: what it may grow to."""
    return max(len(row["local_cores"]), row["max_cores"] or 0)


def next_offset(conn: Connection) -> int:
    """The controller assigns offsets when an agent gives none: after the last core in use
    (or that a node may grow to)."""
    rows = conn.execute(select(nodes.c.core_offset, nodes.c.local_cores, nodes.c.max_cores)).all()
    return max((r.core_offset + span(r._mapping) for r in rows), default=0)


def overlapping(conn: Connection, name: str, offset: int, count: int) -> str | None:
    rows = conn.execute(select(nodes.c.name, nodes.c.core_offset, nodes.c.local_cores, nodes.c.max_cores))
    for r in rows:
        other_span = span(r._mapping)
        if r.name != name and offset < r.core_offset + other_span and r.core_offset < offset + count:
            return r.name
    return None


def register(conn: Connection, values: dict, now: float, actor: str) -> tuple[dict, bool]:
    """Insert or refresh a node; returns (row, created). A node coming back up
    writes its transition event; its identity (offset) never changes."""
    existing = get(conn, values["name"])
    if existing is None:
        row = {"state": NodeState.UP.value, "last_heartbeat": now, "telemetry": {}, "reserved": [], **values}
        conn.execute(insert(nodes).values(**row))
        events.record(conn, now, "register",
                      f"offset={row['core_offset']} cores={len(row['local_cores'])} memory={row.get('memory_mb', 0)}MB",
                      actor=actor, node=row["name"], org_id=row["org_id"])
        return get(conn, values["name"]), True
    changes = {k: v for k, v in values.items() if k not in ("name", "org_id") and v != existing[k]}
    changes["last_heartbeat"] = now
    conn.execute(update(nodes).where(nodes.c.name == existing["name"]).values(**changes))
    if existing["state"] == NodeState.DOWN.value:
        set_state(conn, existing["name"], NodeState.DOWN, NodeState.UP, now, "registered again", actor)
    return get(conn, values["name"]), False


def set_cores(conn: Connection, name: str, local_cores: list[int], reserved: list[int], now: float,
              detail: str, actor: str) -> None:
    """A node's cores changed live (vCPUs hot-plugged or unplugged): the new list and its event.
    The caller has checked that every core still held keeps its position."""
    conn.execute(update(nodes).where(nodes.c.name == name).values(local_cores=local_cores, reserved=reserved))
    org_id = conn.execute(select(nodes.c.org_id).where(nodes.c.name == name)).scalar()
    events.record(conn, now, "capacity", detail, actor=actor, node=name, org_id=org_id)


def heartbeat(conn: Connection, name: str, now: float, telemetry: dict | None = None, actor: str = "agent",
              was_down: bool = True) -> bool:
    """Record that a node is alive; a down node comes back up. False if unknown.
    ``was_down=False``: the caller just read the row as not down (skips the state check)."""
    values: dict = {"last_heartbeat": now}
    if telemetry is not None:
        values["telemetry"] = telemetry
    result = conn.execute(update(nodes).where(nodes.c.name == name).values(**values))
    if result.rowcount != 1:
        return False
    if was_down:
        set_state(conn, name, NodeState.DOWN, NodeState.UP, now, "heartbeat resumed", actor)
    return True


def set_state(conn: Connection, name: str, old: NodeState, new: NodeState, now: float, detail: str, actor: str) -> bool:
    check_node_transition(old, new)
    result = conn.execute(update(nodes).where(nodes.c.name == name, nodes.c.state == old.value).values(state=new.value))
    if result.rowcount != 1:
        return False
    org_id = conn.execute(select(nodes.c.org_id).where(nodes.c.name == name)).scalar()
    events.record(conn, now, f"node_{new.value}", detail, actor=actor, node=name, org_id=org_id)
    return True


def silent_since(conn: Connection, deadline: float) -> list[str]:
    """Nodes that are up but have not heartbeated since ``deadline``."""
    query = select(nodes.c.name).where(nodes.c.state != NodeState.DOWN.value, nodes.c.last_heartbeat < deadline)
    return list(conn.execute(query).scalars())


def remove(conn: Connection, name: str, now: float, detail: str, actor: str) -> bool:
    """Forget a node a pool retired: only while it is drained or down and no job holds a
    core on it (else nothing changes and False). Jobs keep its name in their history."""
    held = conn.execute(select(core_claims.c.core).where(core_claims.c.node == name).limit(1)).first()
    if held is not None:
        return False
    org_id = conn.execute(select(nodes.c.org_id).where(nodes.c.name == name)).scalar()
    result = conn.execute(delete(nodes).where(nodes.c.name == name,
                                              nodes.c.state.in_([NodeState.DRAIN.value, NodeState.DOWN.value])))
    if result.rowcount != 1:
        return False
    events.record(conn, now, "node_removed", detail, actor=actor, node=name, org_id=org_id)
    return True
