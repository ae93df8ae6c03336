"""Request bodies over a size limit are refused with 413 before they are read.

A plain ASGI middleware, outside every other, so no route, dependency or form
parser has buffered anything yet:
- a ``Content-Length`` over the limit is answered at once, and the body is
  never received (a client sending ``Expect: 100-continue`` never even sends it);
- a body without one (chunked) is counted as it streams in: the moment it
  passes the limit, the 413 goes out, the application is told the client left
  (``http.disconnect``) and whatever it would still send is dropped.
The answer has the project's error shape, naming the limit.
"""
from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def _refusal(limit: int) -> tuple[dict, bytes]:
    body = json.dumps({"error": "body_too_large", "message": f"the request body is over the limit of {limit} "
                       "bytes (HEAVEN_MAX_BODY_BYTES)", "field": "body"}).encode()
    start = {"type": "http.response.start", "status": 413,
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                         (b"connection", b"close")]}
    return start, body


class BodyLimit:
    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        state = {"read": 0, "refused": False, "started": False}

        async def counted_receive() -> Message:
            if state["refused"]:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                state["read"] += len(message.get("body", b""))
                if state["read"] > self.limit:
                    state["refused"] = True
                    if not state["started"]:
                        await self._refuse(send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if state["refused"]:
                return  # the 413 went out already
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not state["refused"]:
                raise  # only what our own disconnect caused is ours to swallow

    async def _refuse(self, send: Send) -> None:
        start, body = _refusal(self.limit)
        await send(start)
        await send({"type": "http.response.body", "body": body})
