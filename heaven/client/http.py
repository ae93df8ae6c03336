"""A small synchronous client for the REST API, used by the CLI and benchmarks.

Every non-2xx answer becomes a ``ClientError`` carrying the API's
``{"error", "message", "field"}``, so callers print the message, not a traceback.
Without an explicit token it sends the one ``heaven login`` stored for this URL.
"""
from __future__ import annotations

import httpx

from heaven.client import credentials
from heaven.client.failover import FailoverTransport, split_urls


class ClientError(Exception):
    def __init__(self, status: int, error: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.error, self.message, self.field = status, error, message, field


def raise_for(response: httpx.Response) -> httpx.Response:
    if response.is_success:
        return response
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    raise ClientError(response.status_code, body.get("error", "http_error"),
                      body.get("message") or f"HTTP {response.status_code}", body.get("field"))


class Client:
    def __init__(self, url: str, timeout: float = 30.0, token: str | None = None, use_stored: bool = True) -> None:
        """``url``: one controller, or replicas ``URL1,URL2`` (heaven.client.failover); the
        stored token is the one ``heaven login`` kept for that same string."""
        urls = split_urls(url)
        self.url = ",".join(urls)
        if token is None and use_stored:
            token = (credentials.stored(self.url) or {}).get("token")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        transport = FailoverTransport(urls) if len(urls) > 1 else None
        self.http = httpx.Client(base_url=urls[0], timeout=timeout, headers=headers, transport=transport)

    def _call(self, method: str, path: str, **kw) -> httpx.Response:
        try:
            return raise_for(self.http.request(method, path, **kw))
        except httpx.TransportError as exc:
            raise ClientError(0, "unreachable", f"cannot reach the controller at {self.url}: {exc}") from exc

    def submit(self, **job) -> dict:
        return self._call("POST", "/api/v1/jobs", json={k: v for k, v in job.items() if v is not None}).json()

    def jobs(self, states: list[str] | None = None, limit: int = 200) -> list[dict]:
        return self._call("GET", "/api/v1/jobs", params={"state": states or [], "limit": limit}).json()

    def job(self, job_id: int) -> dict:
        return self._call("GET", f"/api/v1/jobs/{job_id}").json()

    def cancel(self, job_id: int) -> dict:
        return self._call("POST", f"/api/v1/jobs/{job_id}/cancel").json()

    def logs(self, job_id: int, stream: str = "stdout") -> str:
        return self._call("GET", f"/api/v1/jobs/{job_id}/logs", params={"stream": stream}).text

    def nodes(self) -> list[dict]:
        return self._call("GET", "/api/v1/nodes").json()

    def events(self, after: int = 0, limit: int = 500, job: int | None = None) -> list[dict]:
        params = {"after": after, "limit": limit} | ({"job": job} if job is not None else {})
        return self._call("GET", "/api/v1/events", params=params).json()

    # -- people and tokens -----------------------------------------------------------------
    def register(self, username: str, email: str, password: str) -> dict:
        return self._call("POST", "/api/v1/auth/register",
                          json={"username": username, "email": email, "password": password}).json()

    def password_login(self, username: str, password: str) -> dict:
        """The OAuth2 password flow: ``{access_token, token_type, expires_in}``."""
        return self._call("POST", "/api/v1/auth/token", data={"username": username, "password": password,
                                                              "grant_type": "password"}).json()

    def logout(self) -> None:
        self._call("POST", "/api/v1/auth/logout")

    def me(self) -> dict:
        return self._call("GET", "/api/v1/auth/me").json()

    def create_token(self, name: str, expires_in_days: int | None = None) -> dict:
        body = {"name": name} | ({"expires_in_days": expires_in_days} if expires_in_days else {})
        return self._call("POST", "/api/v1/auth/tokens", json=body).json()

    def tokens(self) -> list[dict]:
        return self._call("GET", "/api/v1/auth/tokens").json()

    def revoke_token(self, token_id: int) -> None:
        self._call("DELETE", f"/api/v1/auth/tokens/{token_id}")

    # -- organizations ---------------------------------------------------------------------
    def create_organization(self, name: str) -> dict:
        return self._call("POST", "/api/v1/organizations", json={"name": name}).json()

    def organizations(self) -> list[dict]:
        return self._call("GET", "/api/v1/organizations").json()

    def organization(self, org_id: int) -> dict:
        return self._call("GET", f"/api/v1/organizations/{org_id}").json()

    def join_organization(self, invite_code: str) -> dict:
        return self._call("POST", "/api/v1/organizations/join", json={"invite_code": invite_code}).json()

    def regenerate_invite(self, org_id: int) -> dict:
        return self._call("POST", f"/api/v1/organizations/{org_id}/invite/regenerate").json()

    def members(self, org_id: int) -> list[dict]:
        return self._call("GET", f"/api/v1/organizations/{org_id}/members").json()

    # -- clusters --------------------------------------------------------------------------
    def create_cluster(self, name: str, org: str | None = None, **quota) -> dict:
        body = {"name": name} | ({"org": org} if org else {}) | {k: v for k, v in quota.items() if v is not None}
        return self._call("POST", "/api/v1/clusters", json=body).json()

    def clusters(self) -> list[dict]:
        return self._call("GET", "/api/v1/clusters").json()

    def cluster(self, cluster_id: int) -> dict:
        return self._call("GET", f"/api/v1/clusters/{cluster_id}").json()

    def set_cluster_quota(self, cluster_id: int, **quota) -> dict:
        """Only the fields given change; a value of None removes that limit."""
        return self._call("PATCH", f"/api/v1/clusters/{cluster_id}", json=quota).json()

    def delete_cluster(self, cluster_id: int) -> None:
        self._call("DELETE", f"/api/v1/clusters/{cluster_id}")

    def cluster_join_token(self, cluster_id: int, name: str) -> dict:
        return self._call("POST", f"/api/v1/clusters/{cluster_id}/join-tokens", json={"name": name}).json()

    # -- deployments -----------------------------------------------------------------------
    def create_deployment(self, **body) -> dict:
        return self._call("POST", "/api/v1/deployments", json={k: v for k, v in body.items() if v is not None}).json()

    def deployments(self) -> list[dict]:
        return self._call("GET", "/api/v1/deployments").json()

    def deployment(self, deployment_id: int) -> dict:
        return self._call("GET", f"/api/v1/deployments/{deployment_id}").json()

    def deployment_action(self, deployment_id: int, action: str, **params) -> dict:
        """``start``, ``stop`` (``status``: completed or failed) or ``cancel``."""
        return self._call("POST", f"/api/v1/deployments/{deployment_id}/{action}", params=params).json()

    def delete_deployment(self, deployment_id: int) -> None:
        self._call("DELETE", f"/api/v1/deployments/{deployment_id}")

    def health(self) -> dict:
        return self._call("GET", "/health").json()

    def close(self) -> None:
        self.http.close()
