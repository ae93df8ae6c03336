"""Who is calling, and what their role allows: the one place both are decided.

``current_person`` accepts ``Authorization: Bearer`` with either an access token
(a JWT from a password login) or an API token (``hph_…``); anything else (none,
expired, forged, ``alg: none``, another audience, revoked) is a 401 with
``WWW-Authenticate: Bearer``. ``require_role(role)`` adds the organization in
the path: a person who is not a member gets 404, exactly as if the organization
did not exist, so ids cannot be probed; a member with too weak a role gets 403.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import OAuth2PasswordBearer

from heaven.control.caller_cache import CallerCache
from heaven.control.errors import ApiError, not_found
from heaven.control.tokens import MAX_TOKEN_LENGTH, AccessTokens, InvalidToken, hash_api_token, is_api_token
from heaven.store import organizations, people
from heaven.store.engine import Store
from heaven.wire.fields import MAX_INT

RANK = {"member": 1, "admin": 2, "owner": 3}
# Reads the header and puts the password flow into the OpenAPI document ("Authorize" in /docs).
bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


@dataclass(frozen=True)
class Caller:
    person_id: int
    username: str
    jti: str | None = None  # an access token: what logout revokes
    token_id: int | None = None  # an API token: what logout deletes
    expires_at: float | None = None
    # ((org id, role), ...) as read with the token, in the same transaction: a submission's
    # default organization needs no second read. Role checks that guard a write read the
    # role again in the write's own transaction (Membership.reconfirm, JobScope).
    roles: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class Membership:
    org_id: int
    role: str
    caller: Caller
    least: str  # the role the route asked for

    def reconfirm(self, conn) -> Membership:
        """Check again inside the caller's write transaction: the dependency read the role in
        a transaction of its own, and a demotion or an ownership hand-over may have committed
        since (two concurrent hand-overs must not leave two owners)."""
        return replace(self, role=_check(conn, self.org_id, self.caller, self.least))


class Authenticator:
    def __init__(self, store: Store, access: AccessTokens, clock: Callable[[], float],
                 cache_seconds: float = 0.0) -> None:
        self.store, self.access, self.clock = store, access, clock
        self.cache = CallerCache(cache_seconds, clock)

    def authenticate(self, token: str) -> Caller:
        if len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken("the token is too long")
        caller = self.remembered(token)
        if caller is not None:
            return caller
        generation = self.cache.generation()
        caller = self._look_up(token)
        self.cache.store(token, caller, generation)
        return caller

    def remembered(self, token: str) -> Caller | None:
        """The caller if this token was looked up a moment ago (no store read); None otherwise."""
        caller = self.cache.get(token)
        if caller is not None and caller.expires_at is not None and caller.expires_at <= self.clock():
            raise InvalidToken("the token has expired")
        return caller

    def _look_up(self, token: str) -> Caller:
        if is_api_token(token):
            with self.store.read() as conn:
                row = people.by_token_hash(conn, hash_api_token(token))
                roles = _roles(conn, row["person_id"]) if row is not None else ()
            if row is None:
                raise InvalidToken("the API token is unknown or was revoked")
            if row["expires_at"] is not None and row["expires_at"] <= self.clock():
                raise InvalidToken("the API token has expired")
            return Caller(row["person_id"], row["username"], token_id=row["token_id"], expires_at=row["expires_at"],
                          roles=roles)
        claims = self.access.read(token)
        with self.store.read() as conn:
            revoked = people.is_revoked(conn, claims.jti)
            person = people.get(conn, claims.person_id)
            roles = _roles(conn, claims.person_id)
        if revoked:
            raise InvalidToken("the token was revoked (logged out)")
        if person is None:
            raise InvalidToken("the token's person does not exist")
        return Caller(person["id"], person["username"], jti=claims.jti, expires_at=claims.expires_at, roles=roles)


def _roles(conn, person_id: int) -> tuple[tuple[int, str], ...]:
    return tuple(organizations.roles_of(conn, person_id).items())


def unauthorized(message: str, invalid: bool = True, field: str | None = "Authorization") -> ApiError:
    # RFC 6750: a presented but unusable token is "invalid_token"; no token at all is a bare challenge.
    challenge = 'Bearer error="invalid_token"' if invalid else "Bearer"
    return ApiError(401, "unauthorized", message, field, headers={"WWW-Authenticate": challenge})


async def current_person(request: Request, token: Annotated[str | None, Depends(bearer)]) -> Caller:
    # Async, so that a remembered caller costs no hop to a worker thread; a lookup that
    # reads the store goes to one (it must not block the event loop).
    if not token:
        raise unauthorized("this needs Authorization: Bearer <token> (heaven login makes one)", invalid=False)
    auth: Authenticator = request.app.state.auth
    try:
        return auth.remembered(token) or await run_in_threadpool(auth.authenticate, token)
    except InvalidToken as exc:
        raise unauthorized(str(exc)) from None


Me = Annotated[Caller, Depends(current_person)]


def forgets_callers(request: Request):
    """For every route that writes people, tokens or memberships: the remembered callers
    are dropped before the handler runs and again once it returned or failed, before the
    answer is sent (``FORGETS_CALLERS`` has the function scope: with the default scope
    FastAPI runs the second part after the answer went out, and a client that heard "204
    logged out" could still be let in with that token for a moment)."""
    if request.method == "GET":
        yield
        return
    cache = request.app.state.auth.cache
    cache.forget(committed=False)
    try:
        yield
    finally:
        cache.forget()


FORGETS_CALLERS = Depends(forgets_callers, scope="function")
OrgId = Annotated[int, Path(ge=1, le=MAX_INT, description="organization id")]


def require_role(least: str) -> Callable[..., Membership]:
    """A dependency: the caller's membership of the organization ``{org_id}``, at least ``least``."""
    if least not in RANK:
        raise ValueError(f"unknown role {least!r}")

    def check(org_id: OrgId, caller: Me, request: Request) -> Membership:
        with request.app.state.controller.store.read() as conn:
            return Membership(org_id, _check(conn, org_id, caller, least), caller, least)

    return check


def _check(conn, org_id: int, caller: Caller, least: str, missing: ApiError | None = None) -> str:
    """The caller's role in the organization, if at least ``least``. A non-member gets
    ``missing`` (by default: this organization does not exist), never a 403."""
    role = organizations.role_of(conn, org_id, caller.person_id)
    if role is None:
        raise missing or not_found("organization", org_id)
    if RANK[role] < RANK[least]:
        raise ApiError(403, "forbidden", f"this needs the {least} role in organization {org_id}; you are {role}",
                       "role")
    return role


def role_at_least(conn, org_id: int, caller: Caller, least: str, missing: ApiError | None = None) -> str:
    """The same check for routes whose organization is not in the path (it is in the body,
    or it is the organization of the object in the path): the one rule either way."""
    if least not in RANK:
        raise ValueError(f"unknown role {least!r}")
    return _check(conn, org_id, caller, least, missing)


def check_may_remove(member: Membership, target_id: int, target_role: str) -> None:
    """Anyone but the owner may leave; otherwise only a stronger role removes a weaker one."""
    if target_role == "owner":
        raise ApiError(409, "conflict", "the owner cannot be removed; make another member owner first", "person_id")
    if target_id != member.caller.person_id and RANK[member.role] <= RANK[target_role]:
        raise ApiError(403, "forbidden", f"removing a {target_role} needs a stronger role than {member.role}", "role")
