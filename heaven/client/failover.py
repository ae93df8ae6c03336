"""Several controller replicas behind one client: ``URL1,URL2,...``.

An httpx transport that sends each request to the replica that answered last
and, when that one cannot be reached (the connection is refused or times out:
the request never arrived, so sending it elsewhere cannot run it twice), or when
it answers 503 ``not_leader`` (a request only the leader can answer, nothing
written), tries the next one, each once. The CLI's client and the agent both
use it (``HEAVEN_URL=URL1,URL2``, ``heaven agent --controller URL1,URL2``).
"""
from __future__ import annotations

import json

import httpx

# Errors raised before a request reached a server.
UNREACHED = (httpx.ConnectError, httpx.ConnectTimeout)


def split_urls(urls: str) -> list[str]:
    """``"http://a:1/, http://b:2"`` -> ``["http://a:1", "http://b:2"]``."""
    found = [u.strip().rstrip("/") for u in urls.split(",") if u.strip()]
    if not found:
        raise ValueError("no controller URL given")
    return found


def _not_leader(response: httpx.Response) -> bool:
    if response.status_code != 503:
        return False
    try:
        return json.loads(response.content).get("error") == "not_leader"
    except (ValueError, AttributeError):
        return False


class _Replicas:
    def __init__(self, urls: list[str]) -> None:
        self.urls = [httpx.URL(u) for u in urls]
        self.current = 0  # the one that answered last

    def order(self) -> list[int]:
        return [(self.current + i) % len(self.urls) for i in range(len(self.urls))]

    def aimed(self, request: httpx.Request, index: int) -> httpx.Request:
        """The same request, sent to replica ``index`` (same path, query, headers and body)."""
        base = self.urls[index]
        url = request.url.copy_with(scheme=base.scheme, host=base.host, port=base.port)
        headers = [(k, v) for k, v in request.headers.raw if k.lower() != b"host"]
        return httpx.Request(request.method, url, headers=headers, content=request.content,
                             extensions=request.extensions)


class FailoverTransport(httpx.BaseTransport):
    def __init__(self, urls: list[str], **transport_options) -> None:
        self.replicas = _Replicas(urls)
        self.inner = httpx.HTTPTransport(**transport_options)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        last: Exception | None = None
        order = self.replicas.order()
        for n, index in enumerate(order):
            try:
                response = self.inner.handle_request(self.replicas.aimed(request, index))
            except UNREACHED as exc:
                last = exc
                continue
            if n + 1 < len(order) and response.status_code == 503:
                response.read()
                if _not_leader(response):
                    response.close()
                    continue
            self.replicas.current = index
            return response
        raise last  # the last replica's answer is returned whatever it is: only unreached ones get here

    def close(self) -> None:
        self.inner.close()


class AsyncFailoverTransport(httpx.AsyncBaseTransport):
    def __init__(self, urls: list[str], **transport_options) -> None:
        self.replicas = _Replicas(urls)
        self.inner = httpx.AsyncHTTPTransport(**transport_options)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        last: Exception | None = None
        order = self.replicas.order()
        for n, index in enumerate(order):
            try:
                response = await self.inner.handle_async_request(self.replicas.aimed(request, index))
            except UNREACHED as exc:
                last = exc
                continue
            if n + 1 < len(order) and response.status_code == 503:
                await response.aread()
                if _not_leader(response):
                    await response.aclose()
                    continue
            self.replicas.current = index
            return response
        raise last

    async def aclose(self) -> None:
        await self.inner.aclose()
