"""Slow clients against a real controller on loopback (heaven.control.slow_clients): a request
that arrives slower than HEAVEN_REQUEST_READ_TIMEOUT is answered 408 and its connection closed,
an answer left unread past HEAVEN_RESPONSE_WRITE_TIMEOUT is dropped, and a normal client, an
agent's long-poll and the dashboard's stream are held as long as they take."""
from __future__ import annotations

import asyncio
import json
import socket
import threading
import time

import httpx
import pytest
import uvicorn
from starlette.responses import StreamingResponse

from heaven.control.slow_clients import guarded_protocol
from tests.live import LiveCluster, free_port, wait_for

READ_TIMEOUT = 0.5
TRICKLE = 0.2  # seconds between two bytes of a slow client


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    cluster = LiveCluster(tmp_path_factory.mktemp("slow"), request_read_timeout=READ_TIMEOUT,
                          response_write_timeout=5)
    cluster.start_controller()
    yield cluster
    cluster.stop()


def _connect(live: LiveCluster) -> socket.socket:
    sock = socket.create_connection((live.host, live.port))
    sock.settimeout(TRICKLE)
    return sock


def _answer(sock: socket.socket) -> tuple[bytes, bool]:
    """What the server sent until it closed (True) or went quiet for 10 s (False)."""
    sock.settimeout(10)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data, True
        except TimeoutError:
            return data, False
        if not chunk:
            return data, True
        data += chunk


def _trickle(sock: socket.socket, payload: bytes) -> int:
    """Send ``payload`` a byte at a time until the server answers; how many bytes went."""
    for sent, byte in enumerate(payload):
        try:
            sock.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            return sent
        try:
            sock.recv(1, socket.MSG_PEEK)  # an answer, or the close: either way the server spoke
        except TimeoutError:
            continue
        except ConnectionResetError:
            pass
        return sent + 1
    return len(payload)


def _assert_timeout_answer(data: bytes, closed: bool) -> None:
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), data[:200]
    error = json.loads(body)
    assert error["error"] == "request_timeout" and error["field"] == "request"
    assert "HEAVEN_REQUEST_READ_TIMEOUT" in error["message"] and f"{READ_TIMEOUT:g} s" in error["message"]
    assert closed, "the connection stayed open after the 408"


def test_a_trickled_body_is_answered_408_and_closed(live):
    body = json.dumps({"command": ["true"], "cores": 1}).encode().ljust(200)
    sock = _connect(live)
    try:
        sock.sendall(b"POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Authorization: Bearer " + live.token.encode() + b"\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
        sent = _trickle(sock, body)
        data, closed = _answer(sock)
    finally:
        sock.close()
    assert sent < len(body), "the whole body went through: nothing cut the slow client off"
    _assert_timeout_answer(data, closed)
    assert live.http.get("/api/v1/jobs").json() == [], "a job was half-submitted from the cut-off body"


def test_trickled_headers_are_answered_408_and_closed(live):
    """A slowloris: the head never completes, so no ASGI app ever sees the request."""
    head = b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 200 + b"\r\n\r\n"
    sock = _connect(live)
    try:
        sent = _trickle(sock, head)
        data, closed = _answer(sock)
    finally:
        sock.close()
    assert sent < len(head)
    _assert_timeout_answer(data, closed)


def test_a_connection_that_sends_nothing_is_closed(live):
    sock = _connect(live)
    try:
        data, closed = _answer(sock)
    finally:
        sock.close()
    _assert_timeout_answer(data, closed)


def test_normal_clients_long_polls_and_the_stream_are_not_cut(live):
    agent = live.http  # signs agent calls with the node's credential (it reads whole answers for it)
    registered = agent.post("/api/v1/agents/register", json={"name": "poller", "local_cores": [0]})
    assert registered.status_code == 200, registered.text
    generation = agent.get("/api/v1/agents/poller/assignments").json()["generation"]
    started = time.monotonic()
    held = agent.get("/api/v1/agents/poller/assignments", params={"generation": generation, "wait": READ_TIMEOUT * 4})
    assert held.status_code == 200, held.text
    assert time.monotonic() - started >= READ_TIMEOUT * 4 - 0.1, "the long-poll was not held"

    kinds: list[str] = []
    with httpx.Client(base_url=live.url, headers=live.auth_headers(), timeout=30) as client:
        for _ in range(3):  # one kept-alive connection, idle for a while between its requests
            assert client.get("/health").status_code == 200
            time.sleep(READ_TIMEOUT / 2)
        with client.stream("GET", "/api/v1/dashboard/stream") as stream:
            lines = stream.iter_lines()
            kinds.append(next(line for line in lines if line.startswith("event: ")))
            time.sleep(READ_TIMEOUT * 3)  # the stream idles past the read timeout, then a change comes
            assert agent.post("/api/v1/jobs", json={"command": ["true"], "cores": 1}).status_code == 201
            kinds.append(next(line for line in lines if line.startswith("event: ")))
    assert kinds == ["event: view", "event: patch"]


def test_an_unread_answer_is_dropped_after_the_write_timeout():
    """A client that never reads an endless answer: the task writing it is released."""
    state = {"chunks": 0}

    async def chunks():
        while True:
            yield b"x" * 65536
            state["chunks"] += 1
            await asyncio.sleep(0)  # as a real stream waits for its next event

    endless = StreamingResponse(chunks())  # a response is an ASGI app; it serves the one request

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(endless, host="127.0.0.1", port=port, log_level="warning", lifespan="off",
                                           http=guarded_protocol(read_timeout=5, write_timeout=0.5)))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    sock = socket.socket()
    try:
        wait_for(lambda: server.started, 15, what="the server to start")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", port))
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # and never read
        wait_for(lambda: state["chunks"] > 0, 15, what="the answer to start")
        wait_for(lambda: not server.server_state.tasks, 20, what="the task writing the unread answer to end")
        assert not server.server_state.connections
        stopped_at = state["chunks"]
        assert _answer(sock)[1], "the client's connection was not closed"
        assert state["chunks"] == stopped_at  # nothing more is written once the connection is dropped
    finally:
        sock.close()
        server.should_exit = True
        thread.join(15)
