"""People, their API tokens and the revoked access tokens. Nothing here commits:
the caller owns the transaction (``Store.begin`` / ``Store.read``).

Passwords never reach this module, only their argon2 hashes; API tokens arrive
as sha256 hashes of their secrets.
"""
from __future__ import annotations

from sqlalchemy import Connection, delete, func, insert, select

from heaven.store import events
from heaven.store.tables import api_tokens, people, revoked_tokens

# What a person row shows to the rest of the controller: the hash stays in here
# unless a caller asks for it by name (the login check).
PUBLIC = (people.c.id, people.c.username, people.c.email, people.c.created_at)


def taken(conn: Connection, username: str, email: str) -> str | None:
    """Which of the two (``"username"`` or ``"email"``) another person already has."""
    row = conn.execute(select(people.c.username, people.c.email)
                       .where((people.c.username == username) | (people.c.email == email)).limit(1)).first()
    if row is None:
        return None
    return "username" if row.username == username else "email"


def add(conn: Connection, username: str, email: str, password_hash: str, now: float) -> int:
    person_id = conn.execute(insert(people).values(username=username, email=email, password_hash=password_hash,
                                                   created_at=now)).inserted_primary_key[0]
    events.record(conn, now, "register", f"person {person_id}", actor=username)
    return person_id


def get(conn: Connection, person_id: int) -> dict | None:
    row = conn.execute(select(*PUBLIC).where(people.c.id == person_id)).first()
    return dict(row._mapping) if row else None


def login_row(conn: Connection, username: str) -> dict | None:
    """The person with this username, with the password hash to check a login against."""
    row = conn.execute(select(*PUBLIC, people.c.password_hash).where(people.c.username == username)).first()
    return dict(row._mapping) if row else None


# -- API tokens -------------------------------------------------------------------------

def add_token(conn: Connection, person_id: int, name: str, token_hash: str, now: float,
              expires_at: float | None) -> dict:
    token_id = conn.execute(insert(api_tokens).values(person_id=person_id, name=name, token_hash=token_hash,
                                                      created_at=now, expires_at=expires_at)).inserted_primary_key[0]
    return {"id": token_id, "name": name, "created_at": now, "expires_at": expires_at}


def count_tokens(conn: Connection, person_id: int) -> int:
    return conn.execute(select(func.count()).select_from(api_tokens).where(api_tokens.c.person_id == person_id)).scalar_one()


def tokens_of(conn: Connection, person_id: int) -> list[dict]:
    rows = conn.execute(select(api_tokens.c.id, api_tokens.c.name, api_tokens.c.created_at, api_tokens.c.expires_at)
                        .where(api_tokens.c.person_id == person_id).order_by(api_tokens.c.id))
    return [dict(r._mapping) for r in rows]


def delete_token(conn: Connection, person_id: int, token_id: int) -> bool:
    """Revoke one of this person's tokens; False when they have no token with that id."""
    return conn.execute(delete(api_tokens).where(api_tokens.c.id == token_id,
                                                 api_tokens.c.person_id == person_id)).rowcount == 1


def by_token_hash(conn: Connection, token_hash: str) -> dict | None:
    """The token with this hash and its person: ``{token_id, expires_at, person_id, username}``."""
    row = conn.execute(
        select(api_tokens.c.id.label("token_id"), api_tokens.c.expires_at, people.c.id.label("person_id"),
               people.c.username)
        .select_from(api_tokens.join(people, api_tokens.c.person_id == people.c.id))
        .where(api_tokens.c.token_hash == token_hash)).first()
    return dict(row._mapping) if row else None


# -- revoked access tokens ----------------------------------------------------------------

def revoke_jti(conn: Connection, jti: str, expires_at: float, now: float) -> None:
    # The list only needs a jti until its token would have expired: prune as we add.
    conn.execute(delete(revoked_tokens).where(revoked_tokens.c.expires_at < now))
    if not is_revoked(conn, jti):
        conn.execute(insert(revoked_tokens).values(jti=jti, expires_at=expires_at))


def is_revoked(conn: Connection, jti: str) -> bool:
    return conn.execute(select(revoked_tokens.c.jti).where(revoked_tokens.c.jti == jti)).first() is not None
