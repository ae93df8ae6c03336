"""Organizations and their memberships. Nothing here commits (the caller owns the
transaction), and nothing here decides who may do what: that is heaven.control.auth.
"""
from __future__ import annotations

import secrets

from sqlalchemy import Connection, delete, func, insert, select, update

from heaven.store import events
from heaven.store.tables import clusters, jobs, join_tokens, memberships, nodes, organizations, people

ROLES = ("owner", "admin", "member")  # strongest first


def new_invite_code() -> str:
    """16 random bytes: guessing one is as hopeless as guessing a token."""
    return secrets.token_urlsafe(16)


def name_taken(conn: Connection, name: str) -> bool:
    return conn.execute(select(organizations.c.id).where(organizations.c.name == name)).first() is not None


def create(conn: Connection, name: str, owner_id: int, now: float, actor: str) -> int:
    org_id = conn.execute(insert(organizations).values(name=name, invite_code=new_invite_code(),
                                                       created_at=now)).inserted_primary_key[0]
    conn.execute(insert(memberships).values(org_id=org_id, person_id=owner_id, role="owner", joined_at=now))
    events.record(conn, now, "org_create", f"organization {org_id}", actor=actor, org_id=org_id)
    return org_id


def _member_counts():
    return (select(memberships.c.org_id, func.count().label("members"))
            .group_by(memberships.c.org_id).subquery())


def of_person(conn: Connection, person_id: int, org_id: int | None = None) -> list[dict]:
    """The organizations this person belongs to, each with their role and the member count."""
    counts = _member_counts()
    query = (select(organizations, memberships.c.role, counts.c.members)
             .select_from(organizations.join(memberships, memberships.c.org_id == organizations.c.id)
                          .join(counts, counts.c.org_id == organizations.c.id))
             .where(memberships.c.person_id == person_id).order_by(organizations.c.id))
    if org_id is not None:
        query = query.where(organizations.c.id == org_id)
    return [dict(r._mapping) for r in conn.execute(query)]


def role_of(conn: Connection, org_id: int, person_id: int) -> str | None:
    return conn.execute(select(memberships.c.role).where(memberships.c.org_id == org_id,
                                                         memberships.c.person_id == person_id)).scalar()


def roles_of(conn: Connection, person_id: int) -> dict[int, str]:
    """``{org_id: role}`` for every organization this person belongs to."""
    rows = conn.execute(select(memberships.c.org_id, memberships.c.role)
                        .where(memberships.c.person_id == person_id).order_by(memberships.c.org_id))
    return dict(rows.all())


def owner_of(conn: Connection, org_id: int) -> int | None:
    return conn.execute(select(memberships.c.person_id).where(memberships.c.org_id == org_id,
                                                              memberships.c.role == "owner")).scalar()


def id_named(conn: Connection, name: str) -> int | None:
    return conn.execute(select(organizations.c.id).where(organizations.c.name == name)).scalar()


def by_invite_code(conn: Connection, code: str) -> int | None:
    return conn.execute(select(organizations.c.id).where(organizations.c.invite_code == code)).scalar()


def rename(conn: Connection, org_id: int, name: str, now: float, actor: str) -> None:
    conn.execute(update(organizations).where(organizations.c.id == org_id).values(name=name))
    events.record(conn, now, "org_rename", f"organization {org_id} renamed", actor=actor, org_id=org_id)


def regenerate_invite(conn: Connection, org_id: int, now: float, actor: str) -> None:
    conn.execute(update(organizations).where(organizations.c.id == org_id).values(invite_code=new_invite_code()))
    events.record(conn, now, "org_invite", f"organization {org_id} has a new invite code", actor=actor, org_id=org_id)


def holdings(conn: Connection, org_id: int) -> dict[str, int]:
    """What still belongs to the organization (and so keeps it from being deleted)."""
    count = lambda table: conn.execute(select(func.count()).select_from(table)  # noqa: E731
                                       .where(table.c.org_id == org_id)).scalar_one()
    return {name: n for name, n in (("jobs", count(jobs)), ("nodes", count(nodes)), ("clusters", count(clusters))) if n}


def delete_org(conn: Connection, org_id: int, now: float, actor: str) -> None:
    # Its join tokens go with it (as a cluster's do): with no nodes left, they admit to nothing.
    conn.execute(delete(join_tokens).where(join_tokens.c.org_id == org_id))
    conn.execute(delete(memberships).where(memberships.c.org_id == org_id))
    conn.execute(delete(organizations).where(organizations.c.id == org_id))
    events.record(conn, now, "org_delete", f"organization {org_id}", actor=actor, org_id=org_id)


# -- members --------------------------------------------------------------------------------

def members(conn: Connection, org_id: int) -> list[dict]:
    rows = conn.execute(select(people.c.id, people.c.username, people.c.email, memberships.c.role,
                               memberships.c.joined_at)
                        .select_from(memberships.join(people, memberships.c.person_id == people.c.id))
                        .where(memberships.c.org_id == org_id).order_by(memberships.c.joined_at, people.c.id))
    return [dict(r._mapping) for r in rows]


def add_member(conn: Connection, org_id: int, person_id: int, now: float, actor: str, role: str = "member") -> None:
    conn.execute(insert(memberships).values(org_id=org_id, person_id=person_id, role=role, joined_at=now))
    events.record(conn, now, "org_join", f"{actor} joined organization {org_id}", actor=actor, org_id=org_id)


def remove_member(conn: Connection, org_id: int, person_id: int, now: float, actor: str) -> None:
    conn.execute(delete(memberships).where(memberships.c.org_id == org_id, memberships.c.person_id == person_id))
    events.record(conn, now, "org_leave", f"person {person_id} left organization {org_id}", actor=actor, org_id=org_id)


def set_role(conn: Connection, org_id: int, person_id: int, role: str, now: float, actor: str,
             only_if: str | None = None) -> bool:
    """One conditional UPDATE (``only_if``: the role they must still have); False when no row matched."""
    query = update(memberships).where(memberships.c.org_id == org_id, memberships.c.person_id == person_id)
    if only_if is not None:
        query = query.where(memberships.c.role == only_if)
    if conn.execute(query.values(role=role)).rowcount != 1:
        return False
    events.record(conn, now, "org_role", f"person {person_id} is now {role} of organization {org_id}",
                  actor=actor, org_id=org_id)
    return True
