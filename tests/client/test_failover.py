"""The client's replica list: an unreachable replica or a not_leader answer passes to the next."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from heaven.client.failover import split_urls
from heaven.client.http import Client, ClientError
from tests.live import free_port


def _server(status: int, body: dict):
    """A real HTTP server on loopback answering every request with ``status`` and ``body``."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self._answer()

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._answer()

        def _answer(self):
            seen.append(f"{self.command} {self.path}")
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}", seen


@pytest.fixture
def servers():
    made = []

    def make(status, body):
        made.append(_server(status, body))
        return made[-1][1:]
    yield make
    for server, _, _ in made:
        server.shutdown()
        server.server_close()


def test_an_unreachable_replica_is_passed_over_and_the_working_one_kept(servers):
    url, seen = servers(200, {"status": "ok"})
    dead = f"http://127.0.0.1:{free_port()}"
    client = Client(f"{dead}, {url}/", token="t")
    assert client.health() == {"status": "ok"}
    assert client.submit(command=["true"]) == {"status": "ok"}  # a body is sent again unchanged
    assert seen == ["GET /health", "POST /api/v1/jobs"]
    assert client.http._transport.replicas.current == 1  # the next request goes straight there


def test_not_leader_goes_to_the_next_replica_and_other_errors_do_not(servers):
    follower, follower_seen = servers(503, {"error": "not_leader", "message": "ask the leader", "field": None})
    leader, leader_seen = servers(201, {"id": 7})
    assert Client(f"{follower},{leader}", token="t").submit(command=["true"], no_wait=True) == {"id": 7}
    assert follower_seen == leader_seen == ["POST /api/v1/jobs"]
    busy, _ = servers(503, {"error": "store_unavailable", "message": "the store could not be written", "field": None})
    with pytest.raises(ClientError) as refused:
        Client(f"{busy},{leader}", token="t").submit(command=["true"])
    assert refused.value.error == "store_unavailable"  # maybe written: never sent twice


def test_every_replica_unreachable_says_so():
    dead = [f"http://127.0.0.1:{free_port()}" for _ in range(2)]
    with pytest.raises(ClientError) as refused:
        Client(",".join(dead), token="t").health()
    assert refused.value.error == "unreachable" and dead[0] in refused.value.message
    assert split_urls(" http://a:1/ ,http://b:2") == ["http://a:1", "http://b:2"]


def test_the_async_client_follows_the_same_rule(servers):
    import asyncio

    from heaven.client.http import AsyncClient

    follower, follower_seen = servers(503, {"error": "not_leader", "message": "ask the leader", "field": None})
    leader, leader_seen = servers(201, {"id": 7})
    dead = f"http://127.0.0.1:{free_port()}"

    async def submit():
        async with AsyncClient(f"{dead},{follower},{leader}", token="t") as client:
            answer = await client.submit(command=["true"], no_wait=True)
            return answer, client.http._transport.replicas.current

    assert asyncio.run(submit()) == ({"id": 7}, 2)
    assert follower_seen == leader_seen == ["POST /api/v1/jobs"]
