"""Join tokens (stored as sha256 hashes) and the node credentials they are traded for.
Nothing here commits: the caller owns the transaction."""
from __future__ import annotations

from sqlalchemy import Connection, delete, insert, select, update

from heaven.store import events
from heaven.store.tables import join_tokens, nodes

PUBLIC = (join_tokens.c.id, join_tokens.c.org_id, join_tokens.c.name, join_tokens.c.created_at, join_tokens.c.cluster)


def add(conn: Connection, org_id: int, name: str, token_hash: str, now: float, actor: str,
        cluster: str | None = None) -> dict:
    """``cluster``: the cluster its nodes join (None: the one each agent names, "default" by default)."""
    token_id = conn.execute(insert(join_tokens).values(org_id=org_id, name=name, token_hash=token_hash,
                                                       created_at=now, cluster=cluster)).inserted_primary_key[0]
    events.record(conn, now, "join_token_create", f"join token {token_id} ({name})", actor=actor, org_id=org_id)
    return {"id": token_id, "org_id": org_id, "name": name, "created_at": now, "cluster": cluster}


def of_org(conn: Connection, org_id: int) -> list[dict]:
    rows = conn.execute(select(*PUBLIC).where(join_tokens.c.org_id == org_id).order_by(join_tokens.c.id))
    return [dict(r._mapping) for r in rows]


def remove(conn: Connection, org_id: int, token_id: int | None = None, name: str | None = None) -> int:
    """Revoke one token by id, or every token of that name; how many went. Nodes that joined
    with it keep their own credentials."""
    query = delete(join_tokens).where(join_tokens.c.org_id == org_id)
    if token_id is not None:
        query = query.where(join_tokens.c.id == token_id)
    if name is not None:
        query = query.where(join_tokens.c.name == name)
    return conn.execute(query).rowcount


def joining(conn: Connection, token_hash: str) -> tuple[int, str | None] | None:
    """The organization and the cluster (None: any) a join token admits to, or None."""
    row = conn.execute(select(join_tokens.c.org_id, join_tokens.c.cluster)
                       .where(join_tokens.c.token_hash == token_hash)).first()
    return (row.org_id, row.cluster) if row else None


def set_node_credential(conn: Connection, node: str, credential_hash: str) -> None:
    conn.execute(update(nodes).where(nodes.c.name == node).values(credential_hash=credential_hash))


def node_credential(conn: Connection, node: str) -> str | None:
    return conn.execute(select(nodes.c.credential_hash).where(nodes.c.name == node)).scalar()
