"""/api/v1/auth: register, password login (OAuth2 form), logout, API tokens, me.

Passwords go from the request straight into argon2 and are never logged,
recorded or answered; the hashing runs outside any transaction (it takes tens of
milliseconds and would hold SQLite's write lock that long).
"""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Response
from sqlalchemy.exc import IntegrityError

from heaven.control.auth import FORGETS_CALLERS, Authenticator, Me, unauthorized
from heaven.control.deps import authenticator, controller
from heaven.control.errors import ApiError, answers, not_found
from heaven.control.passwords import hash_password, verify_password
from heaven.control.ratelimit import rate_limited
from heaven.control.runtime import Controller
from heaven.control.tokens import new_api_token
from heaven.store import people
from heaven.wire.fields import MAX_INT
from heaven.wire.people import (MAX_PASSWORD, AccessTokenOut, ApiTokenCreated, ApiTokenIn, ApiTokenOut,
                                PersonOut, RegisterIn, check_password)

router = APIRouter(prefix="/api/v1/auth", tags=["auth"], dependencies=[FORGETS_CALLERS])
Ctl = Annotated[Controller, Depends(controller)]
Auth = Annotated[Authenticator, Depends(authenticator)]
MAX_TOKENS_PER_PERSON = 100
WRONG_LOGIN = "wrong username or password"


@router.post("/register", status_code=201, response_model=PersonOut, dependencies=[Depends(rate_limited)],
             responses=answers(409, 422, 429))
def register(body: RegisterIn, ctl: Ctl) -> PersonOut:
    password_hash = hash_password(body.password)
    try:
        with ctl.store.begin() as conn:
            field = people.taken(conn, body.username, body.email)
            if field is not None:
                raise ApiError(409, "conflict", f"{field}: {getattr(body, field)} is already registered", field)
            person = people.get(conn, people.add(conn, body.username, body.email, password_hash, ctl.clock()))
    except IntegrityError:  # a concurrent registration of the same name won the race
        raise ApiError(409, "conflict", f"username: {body.username} is already registered", "username") from None
    return PersonOut(**person)


@router.post("/token", response_model=AccessTokenOut, dependencies=[Depends(rate_limited)],
             responses=answers(401, 422, 429))
def token(
    ctl: Ctl, auth: Auth, response: Response,
    username: Annotated[str, Form(min_length=1, max_length=64)],
    password: Annotated[str, Form(min_length=1, max_length=MAX_PASSWORD)],
    grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
    scope: Annotated[str, Form(max_length=1000)] = "",
) -> AccessTokenOut:
    """OAuth2 password flow (form-encoded): a short-lived access token (a JWT)."""
    try:
        check_password(password)
    except ValueError:
        raise unauthorized(WRONG_LOGIN, invalid=False, field=None) from None  # no registered password looks like that
    with ctl.store.read() as conn:
        row = people.login_row(conn, username.lower())
    # verify runs for unknown usernames too (against a decoy), so timing tells nothing
    if not verify_password(row["password_hash"] if row else None, password) or row is None:
        raise unauthorized(WRONG_LOGIN, invalid=False, field=None)  # not saying which of the two was wrong
    access, _ = auth.access.issue(row["id"])
    response.headers["Cache-Control"] = "no-store"  # RFC 6749 5.1: token answers are never cached
    return AccessTokenOut(access_token=access, expires_in=auth.access.ttl)


@router.post("/logout", status_code=204, responses=answers(401))
def logout(me: Me, ctl: Ctl) -> Response:
    """Revoke the token this request presents (an access token or an API token)."""
    with ctl.store.begin() as conn:
        if me.jti is not None:
            people.revoke_jti(conn, me.jti, me.expires_at, ctl.clock())
        else:
            people.delete_token(conn, me.person_id, me.token_id)
    return Response(status_code=204)


@router.get("/me", response_model=PersonOut, responses=answers(401))
def whoami(me: Me, ctl: Ctl) -> PersonOut:
    with ctl.store.read() as conn:
        person = people.get(conn, me.person_id)
    if person is None:  # deleted between the token check and now
        raise unauthorized("the token's person does not exist")
    return PersonOut(**person)


@router.post("/tokens", status_code=201, response_model=ApiTokenCreated, responses=answers(401, 409, 422))
def create_token(body: ApiTokenIn, me: Me, ctl: Ctl) -> ApiTokenCreated:
    """An API token for the CLI or a script; the secret is in this answer only."""
    secret, token_hash = new_api_token()
    now = ctl.clock()
    expires_at = now + body.expires_in_days * 86400 if body.expires_in_days else None
    with ctl.store.begin() as conn:
        if people.count_tokens(conn, me.person_id) >= MAX_TOKENS_PER_PERSON:
            raise ApiError(409, "too_many_tokens", f"at most {MAX_TOKENS_PER_PERSON} API tokens per person; "
                           "revoke one first", "name")
        row = people.add_token(conn, me.person_id, body.name, token_hash, now, expires_at)
    return ApiTokenCreated(**row, token=secret)


@router.get("/tokens", response_model=list[ApiTokenOut], responses=answers(401))
def list_tokens(me: Me, ctl: Ctl) -> list[ApiTokenOut]:
    with ctl.store.read() as conn:
        return [ApiTokenOut(**row) for row in people.tokens_of(conn, me.person_id)]


@router.delete("/tokens/{token_id}", status_code=204, responses=answers(401, 404, 422))
def revoke_token(token_id: Annotated[int, Path(ge=1, le=MAX_INT)], me: Me, ctl: Ctl) -> Response:
    with ctl.store.begin() as conn:
        if not people.delete_token(conn, me.person_id, token_id):
            raise not_found("token", token_id)  # someone else's token is as absent as a missing one
    return Response(status_code=204)
