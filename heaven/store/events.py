"""The event log: one row per recorded transition, read back by sequence number."""
from __future__ import annotations

from sqlalchemy import Connection, insert, select

from heaven.store.tables import events, jobs


_INSERT = insert(events)
RECORDED = "heaven_recorded_events"  # connection info key: this transaction recorded an event


def _mark(conn: Connection) -> None:
    """Store.begin calls its ``after_events`` once this transaction committed."""
    conn.info[RECORDED] = True


def record(conn: Connection, ts: float, action: str, detail: str = "", *, actor: str = "system",
           job: int | None = None, node: str | None = None, org_id: int | None = None) -> None:
    conn.execute(_INSERT, {"ts": ts, "action": action, "detail": detail, "actor": actor, "job": job, "node": node,
                           "org_id": org_id})
    _mark(conn)


def record_once(conn: Connection, ts: float, action: str, detail: str, *, actor: str, job: int, node: str | None,
                org_id: int | None) -> bool:
    """Record an event unless its job already has the same one (action, node, detail): for a
    fact an agent may report twice (a report whose answer it never got is sent again)."""
    same = select(events.c.seq).where(events.c.job == job, events.c.action == action, events.c.detail == detail,
                                      events.c.node.is_(None) if node is None else events.c.node == node)
    if conn.execute(same.limit(1)).first() is not None:
        return False
    record(conn, ts, action, detail, actor=actor, job=job, node=node, org_id=org_id)
    return True


def record_many(conn: Connection, rows: list[dict]) -> None:
    if rows:
        conn.execute(_INSERT, rows)
        _mark(conn)


def since(conn: Connection, after: int = 0, limit: int = 500, job: int | None = None, newest_first: bool = False,
          org_ids: list[int] | None = None) -> list[dict]:
    """``org_ids``: only events of these organizations (None: all). Some job events carry no
    organization of their own (``wait``, and rows from before events had one): they go with their job's."""
    query = select(events).where(events.c.seq > after)
    if org_ids is not None:
        of_their_jobs = events.c.job.in_(select(jobs.c.id).where(jobs.c.org_id.in_(org_ids)))
        query = query.where(events.c.org_id.in_(org_ids) | (events.c.org_id.is_(None) & of_their_jobs))
    if job is not None:
        query = query.where(events.c.job == job)
    query = query.order_by(events.c.seq.desc() if newest_first else events.c.seq).limit(limit)
    return [dict(r._mapping) for r in conn.execute(query)]
