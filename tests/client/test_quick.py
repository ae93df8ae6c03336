"""The stdlib GET path answers as the httpx client does: same requests, replicas, errors."""
import socket
import threading

import pytest

from heaven.client.errors import ClientError
from heaven.client.http import Client
from heaven.client.quick import QuickClient, plain_http, query
from tests.client.test_failover import servers  # noqa: F401 (the fixture)
from tests.live import free_port


def test_the_same_get_reaches_the_server_from_both_clients(servers):  # noqa: F811
    url, seen = servers(200, [])
    for kind in (Client, QuickClient):
        client = kind(url, token="t")
        assert client.jobs(["pending", "running"], 5) == []
        assert client.events(after=3, job=None) == []
        assert client.report(since=1.5) == []
        client.close()
    assert seen[:3] == seen[3:]  # path and query written alike
    assert seen[0] == "GET /api/v1/jobs?state=pending&state=running&limit=5"


def test_an_unreachable_replica_is_passed_over_without_httpx_and_kept(servers):  # noqa: F811
    url, seen = servers(200, {"status": "ok"})
    dead = f"http://127.0.0.1:{free_port()}"
    client = QuickClient(f"{dead}, {url}/", token="t")
    assert client.health() == {"status": "ok"} and client.health() == {"status": "ok"}
    assert client.replicas.current == 1 and seen == ["GET /health", "GET /health"]
    assert "http" not in client.__dict__  # no httpx client was made for these GETs


def test_not_leader_passes_on_and_other_errors_are_the_apis(servers):  # noqa: F811
    follower, follower_seen = servers(503, {"error": "not_leader", "message": "ask the leader", "field": None})
    leader, _ = servers(200, [{"id": 1}])
    assert QuickClient(f"{follower},{leader}", token="t").jobs() == [{"id": 1}]
    assert follower_seen == ["GET /api/v1/jobs?limit=200"]
    bad, _ = servers(422, {"error": "invalid", "message": "limit: at most 10000", "field": "limit"})
    for kind in (Client, QuickClient):
        with pytest.raises(ClientError) as refused:
            kind(bad, token="t").jobs(limit=20000)
        assert (refused.value.status, refused.value.error, refused.value.field) == (422, "invalid", "limit")
        assert refused.value.message == "limit: at most 10000"


def test_unreachable_is_the_same_message_as_httpxs():
    dead = [f"http://127.0.0.1:{free_port()}" for _ in range(2)]
    messages = []
    for kind in (Client, QuickClient):
        with pytest.raises(ClientError) as refused:
            kind(",".join(dead), token="t").nodes()
        messages.append((refused.value.status, refused.value.error, refused.value.message))
    assert messages[0] == messages[1] and messages[0][1] == "unreachable" and dead[0] in messages[0][2]


def test_a_server_that_answers_no_http_ends_the_call_without_passing_on():
    """Connected, then the connection dropped: maybe received, so not sent to the next replica."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted = []

    def drop():
        conn, _ = listener.accept()
        accepted.append(conn.recv(4096))
        conn.close()
    threading.Thread(target=drop, daemon=True).start()
    other = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ClientError) as refused:
        QuickClient(f"http://127.0.0.1:{listener.getsockname()[1]},{other}", token="t").health()
    listener.close()
    assert refused.value.error == "unreachable" and accepted and accepted[0].startswith(b"GET /health")


def test_what_is_not_a_plain_get_goes_to_httpx(servers, monkeypatch):  # noqa: F811
    url, seen = servers(201, {"id": 3})
    client = QuickClient(url, token="t")
    assert client.submit(command=["true"]) == {"id": 3} and "http" in client.__dict__  # a POST: httpx's
    client.close()
    assert plain_http(["https://a:1"]) is None and plain_http(["http://[::1"]) is None
    assert plain_http(["http://a:1", "http://b"]) == [("a", 1), ("b", None)]
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    assert QuickClient(url).addresses is None  # a proxy in the environment: httpx sends it, as before
    assert query({"a": True, "b": None, "c": [], "d": 1.5}) == "?a=true&b=&d=1.5"
