"""Shared fixtures: the store URL is parametrized over SQLite and a real PostgreSQL."""
from __future__ import annotations

import pytest

from tests.postgres_server import PostgresServer, wait_ready


@pytest.fixture(scope="session")
def postgres_server():
    server = PostgresServer()
    server.start()
    try:
        wait_ready(server)
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'heaven.db'}"
    return request.getfixturevalue("postgres_server").new_database()


@pytest.fixture
def engine(store_url):
    from heaven.store.engine import make_engine, migrate

    engine = make_engine(store_url)
    migrate(engine)
    yield engine
    engine.dispose()
