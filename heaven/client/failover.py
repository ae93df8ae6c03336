"""Several controller replicas behind one client: ``URL1,URL2,...``.

httpx transports that send each request to the replicas in the order and by the rule of
heaven.client.replicas (unreachable or 503 ``not_leader``: the next one, each once). The
CLI's client and the agent both use them (``HEAVEN_URL=URL1,URL2``, ``heaven --controller
URL1,URL2``, ``heaven agent --controller URL1,URL2``).
"""
from __future__ import annotations

import httpx

from heaven.client.replicas import Replicas, not_leader, split_urls  # noqa: F401 (split_urls: re-exported)

# Errors raised before a request reached a server.
UNREACHED = (httpx.ConnectError, httpx.ConnectTimeout)


class _Replicas(Replicas):
    def __init__(self, urls: list[str]) -> None:
        super().__init__(urls)
        self.parsed = [httpx.URL(u) for u in urls]

    def aimed(self, request: httpx.Request, index: int) -> httpx.Request:
        """The same request, sent to replica ``index`` (same path, query, headers and body)."""
        base = self.parsed[index]
        url = request.url.copy_with(scheme=base.scheme, host=base.host, port=base.port)
        headers = [(k, v) for k, v in request.headers.raw if k.lower() != b"host"]
        return httpx.Request(request.method, url, headers=headers, content=request.content,
                             extensions=request.extensions)


def _refused(response: httpx.Response) -> bool:
    """A 503 ``not_leader`` (its body read, then the response closed): the next replica is asked."""
    if response.status_code != 503:
        return False
    response.read()
    if not not_leader(response.status_code, response.content):
        return False
    response.close()
    return True


async def _refused_async(response: httpx.Response) -> bool:
    """``_refused`` for an answer that is read by awaiting."""
    if response.status_code != 503:
        return False
    await response.aread()
    if not not_leader(response.status_code, response.content):
        return False
    await response.aclose()
    return True


class FailoverTransport(httpx.BaseTransport):
    def __init__(self, urls: list[str], **transport_options) -> None:
        self.replicas = _Replicas(urls)
        self.inner = httpx.HTTPTransport(**transport_options)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        return self.replicas.first_answer(lambda index: self.inner.handle_request(self.replicas.aimed(request, index)),
                                          UNREACHED, _refused)

    def close(self) -> None:
        self.inner.close()


class AsyncFailoverTransport(httpx.AsyncBaseTransport):
    """The same rule awaited (``Replicas.first_answer_async``)."""

    def __init__(self, urls: list[str], **transport_options) -> None:
        self.replicas = _Replicas(urls)
        self.inner = httpx.AsyncHTTPTransport(**transport_options)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        return await self.replicas.first_answer_async(
            lambda index: self.inner.handle_async_request(self.replicas.aimed(request, index)), UNREACHED, _refused_async)

    async def aclose(self) -> None:
        await self.inner.aclose()
