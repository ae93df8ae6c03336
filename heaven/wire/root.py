"""The deployment service's own shapes at the root (/register with a username, /token,
/join-organization, /organizations/): kept as that service answered them, for clients
written against it. Times are ISO 8601 in UTC, as its datetimes serialized."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel

from heaven.wire.people import OrganizationIn


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


class RootOrganizationIn(OrganizationIn):
    pass


class RootOrganizationOut(BaseModel):
    id: int
    name: str
    invite_code: str | None  # only its owner and admins see it, as in the product's API
    created_at: str
    users: list[RootUserOut]
