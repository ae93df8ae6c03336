"""The Python client of the REST API, synchronous (``Client``) and asynchronous (``AsyncClient``).

Both share one implementation of every call: ``Calls`` builds each request and says how
its answer is read; the two classes differ only in how they send it (httpx.Client, or
httpx.AsyncClient, whose methods return awaitables of the same values; httpx is imported
when one is made, so heaven.client.quick can answer simple GETs without it). Every non-2xx
answer becomes a ``ClientError`` carrying the API's ``{"error", "message", "field"}``,
so callers print the message, not a traceback. Without an explicit token they send the
one ``heaven login`` stored for this URL. docs/client.md has examples.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

from heaven.client import credentials
from heaven.client.errors import ClientError
from heaven.client.replicas import split_urls

if TYPE_CHECKING:
    import httpx

PAGE_HEADER = "X-Continue"  # heaven.control.pages: the next page's token
LISTS = {"jobs": "/api/v1/jobs", "events": "/api/v1/events", "nodes": "/api/v1/nodes",
         "deployments": "/api/v1/deployments"}


def raise_for(response: httpx.Response) -> httpx.Response:
    """``response``, or its ClientError (also for heaven.client.quick's answers, which read alike)."""
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


def _json(response: httpx.Response) -> Any:
    return response.json()


def _text(response: httpx.Response) -> str:
    return response.text


def _nothing(response: httpx.Response) -> None:
    return None


def unreachable(url: str, exc: Exception) -> ClientError:
    return ClientError(0, "unreachable", f"cannot reach the controller at {url}: {exc}")


def controller_urls(url: str) -> list[str]:
    """One controller, or replicas ``URL1,URL2`` (heaven.client.failover), normalized."""
    try:
        return split_urls(url)
    except ValueError:
        raise ClientError(0, "invalid_url", "no controller URL given (HEAVEN_URL)") from None


def _transport(asynchronous: bool, url: str, timeout: float, token: str | None, use_stored: bool):
    """An httpx.Client (AsyncClient) for ``url`` (a failover transport when it names several
    replicas); a URL httpx cannot use is a ClientError. The stored token is the one ``heaven
    login`` kept for that same string of URLs."""
    import httpx

    from heaven.client.failover import AsyncFailoverTransport, FailoverTransport

    kind, failover = (httpx.AsyncClient, AsyncFailoverTransport) if asynchronous else (httpx.Client, FailoverTransport)
    urls = url.split(",")
    try:
        return kind(base_url=urls[0], timeout=timeout, headers=credentials.authorization(url, token, use_stored),
                    transport=failover(urls) if len(urls) > 1 else None)
    except httpx.InvalidURL as exc:
        raise ClientError(0, "invalid_url", f"{url!r} is not a controller URL (HEAVEN_URL): {exc}") from None


def page_params(params: dict | None, token: str | None, limit: int) -> dict:
    return {**(params or {}), "limit": limit, **({"continue": token} if token else {})}


class Calls:
    """Every call of the API, once. ``_send(read, method, path, **kw)`` is the transport's."""

    url: str
    _send: Callable[..., Any]

    def submit(self, **job) -> dict:
        return self._send(_json, "POST", "/api/v1/jobs", json={k: v for k, v in job.items() if v is not None})

    def jobs(self, states: list[str] | None = None, limit: int = 200) -> list[dict]:
        """The newest ``limit`` jobs (one page; ``pages("jobs", ...)`` walks them all)."""
        return self._send(_json, "GET", "/api/v1/jobs", params={"state": states or [], "limit": limit})

    def job(self, job_id: int) -> dict:
        return self._send(_json, "GET", f"/api/v1/jobs/{job_id}")

    def cancel(self, job_id: int) -> dict:
        return self._send(_json, "POST", f"/api/v1/jobs/{job_id}/cancel")

    def logs(self, job_id: int, stream: str = "stdout") -> str:
        return self._send(_text, "GET", f"/api/v1/jobs/{job_id}/logs", params={"stream": stream})

    def nodes(self) -> list[dict]:
        return self._send(_json, "GET", "/api/v1/nodes")

    def node(self, name: str) -> dict:
        return self._send(_json, "GET", f"/api/v1/nodes/{name}")

    def report(self, since: float | None = None, until: float | None = None) -> dict:
        """Accounting over [since, until) (epoch seconds; default: everything until now)."""
        params = {k: v for k, v in (("since", since), ("until", until)) if v is not None}
        return self._send(_json, "GET", "/api/v1/report", params=params)

    def events(self, after: int = 0, limit: int = 500, job: int | None = None) -> list[dict]:
        params = {"after": after, "limit": limit} | ({"job": job} if job is not None else {})
        return self._send(_json, "GET", "/api/v1/events", params=params)

    # -- people and tokens -----------------------------------------------------------------
    def register(self, username: str, email: str, password: str) -> dict:
        return self._send(_json, "POST", "/api/v1/auth/register",
                          json={"username": username, "email": email, "password": password})

    def password_login(self, username: str, password: str) -> dict:
        """The OAuth2 password flow: ``{access_token, token_type, expires_in}``."""
        return self._send(_json, "POST", "/api/v1/auth/token", data={"username": username, "password": password,
                                                                     "grant_type": "password"})

    def logout(self) -> None:
        return self._send(_nothing, "POST", "/api/v1/auth/logout")

    def me(self) -> dict:
        return self._send(_json, "GET", "/api/v1/auth/me")

    def create_token(self, name: str, expires_in_days: int | None = None) -> dict:
        body = {"name": name} | ({"expires_in_days": expires_in_days} if expires_in_days else {})
        return self._send(_json, "POST", "/api/v1/auth/tokens", json=body)

    def tokens(self) -> list[dict]:
        return self._send(_json, "GET", "/api/v1/auth/tokens")

    def revoke_token(self, token_id: int) -> None:
        return self._send(_nothing, "DELETE", f"/api/v1/auth/tokens/{token_id}")

    # -- organizations ---------------------------------------------------------------------
    def create_organization(self, name: str) -> dict:
        return self._send(_json, "POST", "/api/v1/organizations", json={"name": name})

    def organizations(self) -> list[dict]:
        return self._send(_json, "GET", "/api/v1/organizations")

    def organization(self, org_id: int) -> dict:
        return self._send(_json, "GET", f"/api/v1/organizations/{org_id}")

    def join_organization(self, invite_code: str) -> dict:
        return self._send(_json, "POST", "/api/v1/organizations/join", json={"invite_code": invite_code})

    def regenerate_invite(self, org_id: int) -> dict:
        return self._send(_json, "POST", f"/api/v1/organizations/{org_id}/invite/regenerate")

    def members(self, org_id: int) -> list[dict]:
        return self._send(_json, "GET", f"/api/v1/organizations/{org_id}/members")

    # -- clusters --------------------------------------------------------------------------
    def create_cluster(self, name: str, org: str | None = None, **quota) -> dict:
        body = {"name": name} | ({"org": org} if org else {}) | {k: v for k, v in quota.items() if v is not None}
        return self._send(_json, "POST", "/api/v1/clusters", json=body)

    def clusters(self) -> list[dict]:
        return self._send(_json, "GET", "/api/v1/clusters")

    def cluster(self, cluster_id: int) -> dict:
        return self._send(_json, "GET", f"/api/v1/clusters/{cluster_id}")

    def set_cluster_quota(self, cluster_id: int, **quota) -> dict:
        """Only the fields given change; a value of None removes that limit."""
        return self._send(_json, "PATCH", f"/api/v1/clusters/{cluster_id}", json=quota)

    def delete_cluster(self, cluster_id: int) -> None:
        return self._send(_nothing, "DELETE", f"/api/v1/clusters/{cluster_id}")

    def cluster_join_token(self, cluster_id: int, name: str) -> dict:
        return self._send(_json, "POST", f"/api/v1/clusters/{cluster_id}/join-tokens", json={"name": name})

    # -- deployments -----------------------------------------------------------------------
    def create_deployment(self, **body) -> dict:
        return self._send(_json, "POST", "/api/v1/deployments", json={k: v for k, v in body.items() if v is not None})

    def deployments(self) -> list[dict]:
        return self._send(_json, "GET", "/api/v1/deployments")

    def deployment(self, deployment_id: int) -> dict:
        return self._send(_json, "GET", f"/api/v1/deployments/{deployment_id}")

    def deployment_action(self, deployment_id: int, action: str, **params) -> dict:
        """``start``, ``stop`` (``status``: completed or failed) or ``cancel``."""
        return self._send(_json, "POST", f"/api/v1/deployments/{deployment_id}/{action}", params=params)

    def delete_deployment(self, deployment_id: int) -> None:
        return self._send(_nothing, "DELETE", f"/api/v1/deployments/{deployment_id}")

    def health(self) -> dict:
        return self._send(_json, "GET", "/health")



class Client(Calls):
    def __init__(self, url: str, timeout: float = 30.0, token: str | None = None, use_stored: bool = True) -> None:
        self.url = ",".join(controller_urls(url))
        self.http = _transport(False, self.url, timeout, token, use_stored)

    def _response(self, method: str, path: str, **kw) -> httpx.Response:
        import httpx  # imported when self.http was made: a look-up

        try:
            return raise_for(self.http.request(method, path, **kw))
        except (httpx.TransportError, httpx.InvalidURL) as exc:
            raise unreachable(self.url, exc) from exc

    def _send(self, read: Callable[[httpx.Response], Any], method: str, path: str, **kw) -> Any:
        return read(self._response(method, path, **kw))

    def pages(self, list_name: str, params: dict | None = None, limit: int = 1000) -> Iterator[list[dict]]:
        """Each page of a list (jobs, events, nodes, deployments) in turn, following X-Continue."""
        token = None
        while True:
            answer = self._response("GET", LISTS[list_name], params=page_params(params, token, limit))
            yield answer.json()
            token = answer.headers.get(PAGE_HEADER)
            if token is None:
                return

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_) -> None:
        self.close()


class AsyncClient(Calls):
    """The same calls over httpx.AsyncClient: ``await client.jobs()``; ``async for page in client.pages("jobs")``."""

    def __init__(self, url: str, timeout: float = 30.0, token: str | None = None, use_stored: bool = True) -> None:
        self.url = ",".join(controller_urls(url))
        self.http = _transport(True, self.url, timeout, token, use_stored)

    async def _response(self, method: str, path: str, **kw) -> httpx.Response:
        import httpx  # imported when self.http was made: a look-up

        try:
            return raise_for(await self.http.request(method, path, **kw))
        except (httpx.TransportError, httpx.InvalidURL) as exc:
            raise unreachable(self.url, exc) from exc

    async def _send(self, read: Callable[[httpx.Response], Any], method: str, path: str, **kw) -> Any:
        return read(await self._response(method, path, **kw))

    async def pages(self, list_name: str, params: dict | None = None, limit: int = 1000) -> AsyncIterator[list[dict]]:
        token = None
        while True:
            answer = await self._response("GET", LISTS[list_name], params=page_params(params, token, limit))
            yield answer.json()
            token = answer.headers.get(PAGE_HEADER)
            if token is None:
                return

    async def close(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_) -> None:
        await self.close()
