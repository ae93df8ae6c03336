"""Who a test's HTTP client is, per request, as the real callers are: a person's token on
the API, a join token on agent registration, and the credential each registration
answered on that node's later agent calls. A request that names its own
Authorization keeps it (tests of refusals send none, or a wrong one)."""
from __future__ import annotations

import re

import httpx

NODE_PATH = re.compile(r"^/api/v1/agents/([^/]+)/")


class Identity(httpx.Auth):
    requires_response_body = True  # the registration's answer carries the node credential

    def __init__(self, person_token: str | None = None, join_token: str | None = None) -> None:
        self.person_token, self.join_token = person_token, join_token
        self.nodes: dict[str, str] = {}  # node name -> its credential

    def token_for(self, path: str) -> str | None:
        if path == "/api/v1/agents/register":
            return self.join_token
        node = NODE_PATH.match(path)
        return self.nodes.get(node.group(1)) if node else self.person_token

    def auth_flow(self, request: httpx.Request):
        token = self.token_for(request.url.path)
        if "Authorization" not in request.headers and token:
            request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if request.url.path == "/api/v1/agents/register" and response.status_code == 200:
            body = response.json()
            self.nodes[body["name"]] = body["credential"]
