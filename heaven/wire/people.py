"""The REST contract of people, tokens and organizations (/api/v1/auth, /api/v1/organizations,
and the deployment service's shapes of them at the root).

Every string and integer has a bound, named in the 4xx message when it is broken.
Strings that reach the database are ASCII by pattern, except the password, which
must at least be encodable (a lone surrogate would otherwise fail deep in argon2).
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from heaven.wire.api import Strict
from heaven.wire.fields import MAX_INT

USERNAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
EMAIL = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$"
ORG_NAME = r"^[A-Za-z0-9][A-Za-z0-9_. -]*$"
TOKEN_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.@:+/ -]*$"
INVITE_CODE = r"^[A-Za-z0-9_-]+$"
MIN_PASSWORD, MAX_PASSWORD = 8, 1024  # argon2 hashes whatever it is given: bound the work
MAX_TOKEN_DAYS = 3650
Role = Literal["owner", "admin", "member"]


def check_password(value: str) -> str:
    """The one password rule, for the JSON body of register and the login form."""
    if not MIN_PASSWORD <= len(value) <= MAX_PASSWORD:
        raise ValueError(f"must be {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


class RegisterIn(Strict):
    # Lower-cased on the way in, so "Alice" and "alice" are one person.
    username: str = Field(min_length=3, max_length=64, pattern=USERNAME)
    email: str = Field(min_length=3, max_length=254, pattern=EMAIL)
    password: str = Field(repr=False)

    @field_validator("username", "email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()

    @field_validator("password")
    @classmethod
    def _password(cls, value: str) -> str:
        return check_password(value)


class PersonOut(BaseModel):
    id: int
    username: str
    email: str
    created_at: float


class AccessTokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int  # seconds


class ApiTokenIn(Strict):
    name: str = Field(min_length=1, max_length=100, pattern=TOKEN_NAME)
    expires_in_days: int | None = Field(None, ge=1, le=MAX_TOKEN_DAYS, description="default: until revoked")


class ApiTokenOut(BaseModel):
    id: int
    name: str
    created_at: float
    expires_at: float | None


class ApiTokenCreated(ApiTokenOut):
    token: str  # shown this once; the controller keeps only its hash


class OrganizationIn(Strict):
    name: str = Field(min_length=1, max_length=100, pattern=ORG_NAME)


class OrganizationOut(BaseModel):
    id: int
    name: str
    created_at: float
    role: Role  # the caller's
    members: int
    invite_code: str | None  # only owners and admins see it


class JoinIn(Strict):
    invite_code: str = Field(min_length=1, max_length=64, pattern=INVITE_CODE)


class MemberOut(BaseModel):
    id: int  # the person's
    username: str
    role: Role
    joined_at: float


class RoleIn(Strict):
    role: Role


class JoinTokenIn(Strict):
    name: str = Field(min_length=1, max_length=100, pattern=TOKEN_NAME, description="what it is for, e.g. rack-3")


class JoinTokenOut(BaseModel):
    id: int
    org_id: int
    name: str
    created_at: float
    cluster: str | None = None  # the cluster its nodes join; None: the one each agent names


class JoinTokenCreated(JoinTokenOut):
    token: str  # shown this once (heaven agent --token); the controller keeps only its hash


# -- the deployment service's shapes at the root (/register, /token, /join-organization,
# /organizations/): kept as that service answered them, for clients written against it.

def iso(ts: float | None) -> str | None:
    """Seconds since the epoch as that service's (naive, UTC) datetimes serialized."""
    return None if ts is None else datetime.fromtimestamp(ts, UTC).replace(tzinfo=None).isoformat()


class RootUserOut(BaseModel):
    id: int
    username: str
    email: str
    created_at: str | None = None


class RootTokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"


# The product's bounds, but unknown keys ignored, as that service's models did.
class RootOrganizationIn(OrganizationIn):
    model_config = ConfigDict(extra="ignore")


class RootJoinIn(JoinIn):
    model_config = ConfigDict(extra="ignore")


class RootOrganizationOut(BaseModel):
    id: int
    name: str
    invite_code: str | None  # only its owner and admins see it, as in the product's API
    created_at: str
    users: list[RootUserOut]
