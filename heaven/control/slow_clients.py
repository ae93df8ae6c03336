"""Slow clients cannot hold a connection, or the task serving it, forever.

uvicorn has no such guard of its own: its keep-alive timer only runs between two
requests, and the first byte of a request cancels it, so a client that trickles
its request head (a slowloris) or its body one byte at a time holds the
connection for as long as it likes; one that never reads its response leaves the
request's task waiting on a full write buffer. The head never reaches ASGI, so an
ASGI middleware cannot see it: the guard sits in uvicorn's HTTP protocol instead.

- Reading: a request must arrive whole (head and body) within ``read_timeout``
  of its first byte, or of the connection opening. If not, the client is answered
  408 with the project's error shape (unless a response has started) and the
  connection is closed; the application, if it was waiting for the body, sees
  ``http.disconnect``.
- Writing: while the transport's write buffer is full (the client is not
  reading), the response has ``write_timeout`` seconds to drain; then the
  connection is dropped, which releases the task that was writing.

Once a request is read, nothing here limits how long its answer takes: the
agents' long-polls and the dashboard's event stream are held as long as they are
read.
"""
from __future__ import annotations

import asyncio
import json

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def timeout_answer(read_timeout: float) -> bytes:
    """The 408 written straight to the transport: no ASGI app is involved."""
    body = json.dumps({"error": "request_timeout", "message": f"the request was not received within {read_timeout:g} s "
                       "(HEAVEN_REQUEST_READ_TIMEOUT)", "field": "request"}).encode()
    head = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n")
    return head + body


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a read deadline per request and a write deadline
    while the client does not read. The timeouts are class attributes: uvicorn builds one
    protocol per connection, from the class alone (``guarded_protocol`` makes the class)."""

    read_timeout: float = 10.0
    write_timeout: float = 30.0

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._read_deadline: asyncio.TimerHandle | None = None
        self._write_deadline: asyncio.TimerHandle | None = None

    # -- reading -----------------------------------------------------------------------
    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_read()  # a connection that sends nothing at all is a slow client too

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._read_deadline is None:
            self._arm_read()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm_read()

    def _arm_read(self) -> None:
        self._read_deadline = self.loop.call_later(self.read_timeout, self._read_timed_out)

    def _disarm_read(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _read_timed_out(self) -> None:
        self._read_deadline = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and cycle.response_started and not cycle.response_complete:
            self.transport.abort()  # an answer is half out: nothing sensible can follow it
            return
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # the app, waiting for the body, is told the client left
            cycle.message_event.set()
        self.transport.write(timeout_answer(self.read_timeout))
        self.transport.close()

    # -- writing -----------------------------------------------------------------------
    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_deadline is None:
            self._write_deadline = self.loop.call_later(self.write_timeout, self._write_timed_out)

    def resume_writing(self) -> None:
        super().resume_writing()
        self._disarm_write()

    def _disarm_write(self) -> None:
        if self._write_deadline is not None:
            self._write_deadline.cancel()
            self._write_deadline = None

    def _write_timed_out(self) -> None:
        self._write_deadline = None
        # abort, not close: close would wait for the very buffer the client does not read
        self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_read()
        self._disarm_write()
        super().connection_lost(exc)


def guarded_protocol(read_timeout: float, write_timeout: float) -> type[GuardedProtocol]:
    """The protocol class uvicorn is given (``Config(http=...)``), with these timeouts."""
    return type("GuardedProtocol", (GuardedProtocol,), {"read_timeout": read_timeout, "write_timeout": write_timeout})
