"""The administrator ``heaven up`` makes on its first start, so that a newcomer's
``heaven submit`` works with nothing else typed (as k3s writes a kubeconfig).

The administrator is the owner of the ``default`` organization: a person ``admin``
with no password at all (the stored hash is one no password matches), reachable
only through the API token made here, which the launcher keeps where the local
CLI looks. Another start reuses that token while it is still valid, and makes a
new one only when it was lost, revoked or expired. Its local agents join the
default organization with a join token made afresh on every start (the one of
the previous start is revoked: it was only ever in that start's environment).
"""
from __future__ import annotations

from dataclasses import dataclass

from heaven.control.node_auth import issue_join_token
from heaven.control.tokens import hash_api_token, new_api_token
from heaven.store import join_tokens, organizations, people
from heaven.store.engine import Store, default_org_id

ADMIN = "admin"
NO_PASSWORD = "!"  # not an argon2 hash: verify_password refuses every password against it
TOKEN_NAME = "heaven up"
AGENTS_TOKEN_NAME = "heaven up agents"


class BootstrapRefused(Exception):
    """Someone else registered the name ``admin``: no token is made for a stranger's account."""


@dataclass(frozen=True)
class Admin:
    person_id: int
    username: str
    created: bool  # this start made the administrator
    token: dict | None  # {"id", "name", "token"}: a new API token; None: ``known_token`` still works


def ensure_admin(store: Store, now: float, known_token: str | None = None) -> Admin:
    with store.begin() as conn:
        org_id = default_org_id(conn)
        owner_id, created = organizations.owner_of(conn, org_id), False
        if owner_id is None:
            if people.login_row(conn, ADMIN) is not None:
                raise BootstrapRefused(f"a person named {ADMIN} exists but owns no default organization; "
                                       "make someone its owner, then log in with heaven login")
            owner_id = people.add(conn, ADMIN, f"{ADMIN}@localhost", NO_PASSWORD, now)
            organizations.add_member(conn, org_id, owner_id, now, actor=ADMIN, role="owner")
            created = True
        username = people.get(conn, owner_id)["username"]
        if known_token and _still_valid(conn, known_token, now):
            return Admin(owner_id, username, created, None)
        secret, token_hash = new_api_token()
        row = people.add_token(conn, owner_id, TOKEN_NAME, token_hash, now, expires_at=None)
    return Admin(owner_id, username, created, {"id": row["id"], "name": TOKEN_NAME, "token": secret})


def _still_valid(conn, token: str, now: float) -> bool:
    row = people.by_token_hash(conn, hash_api_token(token))
    return row is not None and (row["expires_at"] is None or row["expires_at"] > now)


def local_agents_join_token(store: Store, now: float) -> str:
    """The secret the launcher's own agents register with (HEAVEN_AGENT_TOKEN)."""
    with store.begin() as conn:
        org_id = default_org_id(conn)
        join_tokens.remove(conn, org_id, name=AGENTS_TOKEN_NAME)
        return issue_join_token(conn, org_id, AGENTS_TOKEN_NAME, now, actor=ADMIN)["token"]
