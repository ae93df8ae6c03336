"""/api/v1/organizations: create, list (mine), show, rename, delete, invite codes,
join, members and their roles.

Who may do what is decided by the ``require_role`` dependency (heaven.control.auth),
never in a handler: a non-member gets 404 for every route under ``/{org_id}``.
"""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response
from sqlalchemy.exc import IntegrityError

from heaven.control.auth import FORGETS_CALLERS, Me, Membership, check_may_remove, require_role
from heaven.control.deps import controller
from heaven.control.errors import ApiError, answers, not_found
from heaven.control.runtime import Controller
from heaven.store import organizations as orgs
from heaven.wire.fields import MAX_INT
from heaven.wire.people import JoinIn, MemberOut, OrganizationIn, OrganizationOut, RoleIn

router = APIRouter(prefix="/api/v1/organizations", tags=["organizations"], dependencies=[FORGETS_CALLERS])
Ctl = Annotated[Controller, Depends(controller)]
Member = Annotated[Membership, Depends(require_role("member"))]
Admin = Annotated[Membership, Depends(require_role("admin"))]
Owner = Annotated[Membership, Depends(require_role("owner"))]
PersonId = Annotated[int, Path(ge=1, le=MAX_INT, description="the member's person id")]
IN_ORG = (401, 403, 404, 422)  # every route under /{org_id}


def _out(row: dict) -> OrganizationOut:
    # The invite code admits anyone who holds it, so only those who may change it see it.
    code = row["invite_code"] if row["role"] in ("owner", "admin") else None
    return OrganizationOut(id=row["id"], name=row["name"], created_at=row["created_at"], role=row["role"],
                           members=row["members"], invite_code=code)


def _show(ctl: Controller, org_id: int, person_id: int) -> OrganizationOut:
    with ctl.store.read() as conn:
        rows = orgs.of_person(conn, person_id, org_id)
    if not rows:
        raise not_found("organization", org_id)
    return _out(rows[0])


def _name_free(conn, name: str) -> None:
    if orgs.name_taken(conn, name):
        raise ApiError(409, "conflict", f"name: an organization named {name} exists already", "name")


@router.post("", status_code=201, response_model=OrganizationOut, responses=answers(401, 409, 422))
def create(body: OrganizationIn, me: Me, ctl: Ctl) -> OrganizationOut:
    """Create an organization; its creator is its owner."""
    try:
        with ctl.store.begin() as conn:
            _name_free(conn, body.name)
            org_id = orgs.create(conn, body.name, me.person_id, ctl.clock(), me.username)
    except IntegrityError:  # a concurrent create of the same name won the race
        raise ApiError(409, "conflict", f"name: an organization named {body.name} exists already", "name") from None
    return _show(ctl, org_id, me.person_id)


@router.get("", response_model=list[OrganizationOut], responses=answers(401))
def listing(me: Me, ctl: Ctl) -> list[OrganizationOut]:
    """The organizations the caller belongs to."""
    with ctl.store.read() as conn:
        return [_out(row) for row in orgs.of_person(conn, me.person_id)]


@router.post("/join", response_model=OrganizationOut, responses=answers(401, 404, 422))
def join(body: JoinIn, me: Me, ctl: Ctl) -> OrganizationOut:
    """Join as a member with an invite code (already a member: nothing changes)."""
    with ctl.store.begin() as conn:
        org_id = orgs.by_invite_code(conn, body.invite_code)
        if org_id is None:
            raise ApiError(404, "not_found", "invite_code: no organization has this invite code", "invite_code")
        if orgs.role_of(conn, org_id, me.person_id) is None:
            orgs.add_member(conn, org_id, me.person_id, ctl.clock(), me.username)
    return _show(ctl, org_id, me.person_id)


@router.get("/{org_id}", response_model=OrganizationOut, responses=answers(*IN_ORG))
def show(member: Member, ctl: Ctl) -> OrganizationOut:
    return _show(ctl, member.org_id, member.caller.person_id)


@router.patch("/{org_id}", response_model=OrganizationOut, responses=answers(*IN_ORG, 409))
def rename(body: OrganizationIn, admin: Admin, ctl: Ctl) -> OrganizationOut:
    try:
        with ctl.store.begin() as conn:
            admin.reconfirm(conn)
            _name_free(conn, body.name)
            orgs.rename(conn, admin.org_id, body.name, ctl.clock(), admin.caller.username)
    except IntegrityError:
        raise ApiError(409, "conflict", f"name: an organization named {body.name} exists already", "name") from None
    return _show(ctl, admin.org_id, admin.caller.person_id)


@router.delete("/{org_id}", status_code=204, responses=answers(*IN_ORG, 409))
def delete(owner: Owner, ctl: Ctl) -> Response:
    """Delete an organization that holds nothing (no jobs, nodes or clusters)."""
    with ctl.store.begin() as conn:
        owner.reconfirm(conn)
        held = orgs.holdings(conn, owner.org_id)
        if held:
            what = ", ".join(f"{n} {kind}" for kind, n in held.items())
            raise ApiError(409, "not_empty", f"organization {owner.org_id} still holds {what}", "org_id")
        orgs.delete_org(conn, owner.org_id, ctl.clock(), owner.caller.username)
    return Response(status_code=204)


@router.post("/{org_id}/invite/regenerate", response_model=OrganizationOut, responses=answers(*IN_ORG))
def regenerate_invite(admin: Admin, ctl: Ctl) -> OrganizationOut:
    """A new invite code; the old one stops working."""
    with ctl.store.begin() as conn:
        admin.reconfirm(conn)
        orgs.regenerate_invite(conn, admin.org_id, ctl.clock(), admin.caller.username)
    return _show(ctl, admin.org_id, admin.caller.person_id)


@router.get("/{org_id}/members", response_model=list[MemberOut], responses=answers(*IN_ORG))
def members(member: Member, ctl: Ctl) -> list[MemberOut]:
    with ctl.store.read() as conn:
        return [MemberOut(**row) for row in orgs.members(conn, member.org_id)]


def _target_role(conn, org_id: int, person_id: int) -> str:
    role = orgs.role_of(conn, org_id, person_id)
    if role is None:
        raise ApiError(404, "not_found", f"person {person_id} is not a member of organization {org_id}", "person_id")
    return role


@router.delete("/{org_id}/members/{person_id}", status_code=204, responses=answers(*IN_ORG, 409))
def remove_member(person_id: PersonId, member: Member, ctl: Ctl) -> Response:
    """Leave (yourself), or remove a member with a weaker role than yours."""
    with ctl.store.begin() as conn:
        member = member.reconfirm(conn)
        check_may_remove(member, person_id, _target_role(conn, member.org_id, person_id))
        orgs.remove_member(conn, member.org_id, person_id, ctl.clock(), member.caller.username)
    return Response(status_code=204)


@router.patch("/{org_id}/members/{person_id}", response_model=MemberOut, responses=answers(*IN_ORG, 409))
def change_role(person_id: PersonId, body: RoleIn, owner: Owner, ctl: Ctl) -> MemberOut:
    """The owner sets a member's role; making someone owner hands ownership over (the
    old owner becomes an admin), so an organization always has exactly one owner."""
    now, actor = ctl.clock(), owner.caller.username
    with ctl.store.begin() as conn:
        owner.reconfirm(conn)
        _target_role(conn, owner.org_id, person_id)
        if person_id == owner.caller.person_id:
            raise ApiError(409, "conflict", "the owner's role changes only by making another member owner",
                           "person_id")
        # Conditional on still being owner: of two concurrent hand-overs, one finds no row.
        if body.role == "owner" and not orgs.set_role(conn, owner.org_id, owner.caller.person_id, "admin", now, actor,
                                                      only_if="owner"):
            raise ApiError(409, "conflict", "ownership was handed over meanwhile", "role")
        orgs.set_role(conn, owner.org_id, person_id, body.role, now, actor)
        row = next(m for m in orgs.members(conn, owner.org_id) if m["id"] == person_id)
    return MemberOut(**row)
