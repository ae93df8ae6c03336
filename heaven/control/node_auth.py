"""Agents authenticate as nodes, never as people.

An agent registers with a join token (which decides the node's organization) and
is answered a node credential of its own; every later call about that node
(report, assignments) must carry that credential, or gets a 401. The prefixes
keep the kinds apart: a person's token is never a node's, nor the reverse.
"""
from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from heaven.control.auth import unauthorized
from heaven.control.tokens import (JOIN_TOKEN_PREFIX, MAX_TOKEN_LENGTH, NODE_CREDENTIAL_PREFIX, hash_api_token,
                                   new_api_token)
from heaven.store import join_tokens
from heaven.wire.fields import Name

node_bearer = HTTPBearer(auto_error=False, scheme_name="node", description="a join token (register) or the "
                                                                            "node credential it was traded for")
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(node_bearer)]


def issue_join_token(conn, org_id: int, name: str, now: float, actor: str, cluster: str | None = None) -> dict:
    """A new join token (``cluster``: the one its nodes join): its row and ``token``, the
    secret (shown once, stored hashed)."""
    secret, token_hash = new_api_token(JOIN_TOKEN_PREFIX)
    return {**join_tokens.add(conn, org_id, name, token_hash, now, actor, cluster), "token": secret}


@dataclass(frozen=True)
class Joining:
    org_id: int
    cluster: str | None  # the join token's cluster; None: the one the agent names


def _secret(credentials: HTTPAuthorizationCredentials | None, prefix: str, needs: str) -> str:
    if credentials is None or not credentials.credentials:
        raise unauthorized(f"this needs Authorization: Bearer <{needs}>", invalid=False)
    token = credentials.credentials
    if len(token) > MAX_TOKEN_LENGTH or not token.startswith(prefix):
        raise unauthorized(f"this needs a {needs}, not another kind of token")
    return token


def joining_org(request: Request, credentials: Bearer) -> Joining:
    """The organization (and cluster) whose join token the registering agent presents."""
    token = _secret(credentials, JOIN_TOKEN_PREFIX, "join token (an organization admin makes one)")
    with request.app.state.controller.store.read() as conn:
        found = join_tokens.joining(conn, hash_api_token(token))
    if found is None:
        raise unauthorized("the join token is unknown or was revoked")
    return Joining(*found)


def this_node(name: Annotated[Name, Path()], request: Request, credentials: Bearer) -> str:
    """The node in the path, if the call carries its credential."""
    token = _secret(credentials, NODE_CREDENTIAL_PREFIX, "node credential (answered by registration)")
    with request.app.state.controller.store.read() as conn:
        stored = join_tokens.node_credential(conn, name)
    # An unknown node and a wrong credential answer alike: a 401, and the agent joins again.
    if stored is None or not hmac.compare_digest(stored, hash_api_token(token)):
        raise unauthorized(f"this is not node {name}'s credential; register again with a join token")
    return name


JoiningOrg = Annotated[Joining, Depends(joining_org)]
ThisNode = Annotated[str, Depends(this_node)]
