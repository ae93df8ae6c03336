"""An in-process controller (its scheduler loop running) on a fresh SQLite store."""
from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from heaven.config import ControllerSettings
from heaven.control.app import create_app
from heaven.control.bootstrap import ensure_admin, local_agents_join_token
from tests.identity import Identity


def sign_in_as_admin(client: TestClient, person: bool = True) -> TestClient:
    """Send the API token of the administrator ``heaven up`` makes (owner of the default
    organization) and register agents with a join token of that organization, as ``heaven up``
    does (``person=False``: agents only, the API calls stay anonymous)."""
    store = client.app.state.controller.store
    token = ensure_admin(store, time.time()).token["token"] if person else None
    client.auth = Identity(token, local_agents_join_token(store, time.time()))
    return client


@pytest.fixture
def controller_app(tmp_path):
    """``make(**settings)`` -> a TestClient whose app runs its background loops, signed in
    as the administrator (``signed_in=False``: anonymous)."""
    clients: list[TestClient] = []

    def make(signed_in: bool = True, **settings) -> TestClient:
        settings = {"scheduler_interval": 60.0, **settings}
        app = create_app(ControllerSettings(database_url=f"sqlite:///{tmp_path / 'heaven.db'}", **settings))
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return sign_in_as_admin(client, person=signed_in)

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def register(client: TestClient, name: str, cores: int, offset: int | None = None) -> None:
    """A node that registers but runs no agent: what is placed on it stays assigned."""
    body = {"name": name, "local_cores": list(range(cores)), "memory_mb": 1000}
    if offset is not None:
        body["core_offset"] = offset
    answer = client.post("/api/v1/agents/register", json=body)
    assert answer.status_code == 200, answer.text


class FakeClock:
    """A clock tests move by hand: token expiry and the rate limit without sleeping."""

    def __init__(self, now: float = 1_900_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def auth_app(tmp_path, clock, monkeypatch):
    """``make(**settings)`` -> a TestClient whose tokens and rate limit read ``clock``.

    Passwords are still argon2id, with the cheapest parameters: the production cost
    (tenths of a second a hash, by design) would make these tests take minutes."""
    from argon2 import PasswordHasher

    from heaven.control import passwords

    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    clients: list[TestClient] = []

    def make(**settings) -> TestClient:
        settings = {"scheduler_interval": 60.0, "auth_rate_per_minute": 10_000, **settings}
        app = create_app(ControllerSettings(database_url=f"sqlite:///{tmp_path / 'heaven.db'}", **settings),
                         clock=clock)
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return sign_in_as_admin(client, person=False)  # its agents join; people sign in themselves

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def person(client: TestClient, username: str, password: str = "correct horse battery") -> dict:
    """Register and log in with the form flow; returns the Authorization header."""
    answer = client.post("/api/v1/auth/register",
                         json={"username": username, "email": f"{username}@example.org", "password": password})
    assert answer.status_code == 201, answer.text
    return login(client, username, password)


def login(client: TestClient, username: str, password: str = "correct horse battery") -> dict:
    answer = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}
