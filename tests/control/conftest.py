"""An in-process controller (its scheduler loop running) on a fresh SQLite store."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from heaven.config import ControllerSettings
from heaven.control.app import create_app


@pytest.fixture
def controller_app(tmp_path):
    """``make(**settings)`` -> a TestClient whose app runs its background loops."""
    clients: list[TestClient] = []

    def make(**settings) -> TestClient:
        settings = {"scheduler_interval": 60.0, **settings}
        app = create_app(ControllerSettings(database_url=f"sqlite:///{tmp_path / 'heaven.db'}", **settings))
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return client

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
