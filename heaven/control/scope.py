"""Which jobs a person may see and touch: the one place every job route asks.

A job belongs to an organization and, when a person submitted it, to that person.
Its organization's members see it; to anyone else it answers 404 exactly as a job
that does not exist, so ids cannot be probed across organizations. Cancelling it
or reading its logs needs more than membership: its owner, or an admin or owner
of its organization (a 403 for the other members, who may know it exists).
Every check reads the memberships in the caller's own transaction.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from heaven.control.auth import RANK, Caller, Me
from heaven.control.errors import ApiError, not_found
from heaven.store import jobs, organizations

NO_ORGANIZATION = ("you belong to no organization: create one (heaven org create NAME) "
                   "or join one (heaven org join CODE)")


@dataclass(frozen=True)
class JobScope:
    caller: Caller

    def org_ids(self, conn) -> list[int]:
        return list(organizations.roles_of(conn, self.caller.person_id))

    def visible(self, conn, job_id: int, kind: str | None = None) -> dict:
        """The job, or a 404 when it does not exist or belongs to another organization.
        ``kind``: only a job of that kind (a deployment is a ``service``); others answer 404 too."""
        row = jobs.get(conn, job_id)
        what = "deployment" if kind == "service" else "job"
        if row is None or (kind is not None and row["kind"] != kind) \
                or organizations.role_of(conn, row["org_id"], self.caller.person_id) is None:
            raise not_found(what, job_id)
        return row

    def manageable(self, conn, job_id: int, action: str, kind: str | None = None) -> dict:
        """The job, if the caller may ``action`` it: its owner, or an admin of its organization."""
        row = self.visible(conn, job_id, kind)
        what = "deployment" if kind == "service" else "job"
        if row["owner_id"] != self.caller.person_id:
            role = organizations.role_of(conn, row["org_id"], self.caller.person_id)
            if RANK[role] < RANK["admin"]:
                raise ApiError(403, "forbidden", f"only the {what}'s owner or an admin of its organization may "
                                                 f"{action} {what} {job_id}; you are {role}", "id")
        return row

    def member_of(self, conn, org_id: int) -> bool:
        return organizations.role_of(conn, org_id, self.caller.person_id) is not None

    def org_for_submit(self, read, org: str | None) -> int:
        """The organization a new job goes to: ``org`` (a name or an id) or, without it, the
        caller's only or first one. The caller's organizations are those read with their
        token; ``read()`` opens a read transaction, needed only to look up a name."""
        return org_of_caller(read, self.caller, org)


def org_of_caller(read, caller: Caller, org: str | int | None, field: str = "org") -> int:
    """The organization something new goes to (a job, a cluster): ``org`` (a name or an id),
    which must be one of the caller's (another's answers 404 as a missing one), or without
    it the caller's only or first (403 when they belong to none). ``read()`` opens a read
    transaction, needed only to look up a name."""
    roles = dict(caller.roles)
    if org is None:
        if not roles:
            raise ApiError(403, "no_organization", NO_ORGANIZATION, field)
        return next(iter(roles))
    text = str(org)
    if text.isdecimal():
        org_id = int(text)
    else:
        with read() as conn:
            org_id = organizations.id_named(conn, text)
    if org_id not in roles:  # another organization's is as absent as a missing one
        raise ApiError(404, "not_found", f"organization {org} does not exist", field)
    return org_id


async def job_scope(caller: Me) -> JobScope:
    return JobScope(caller)


Scope = Annotated[JobScope, Depends(job_scope)]
