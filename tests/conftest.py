"""Shared fixtures: the store URL is parametrized over SQLite and a real PostgreSQL; a real,
ephemeral Docker engine for the container runtime's and the docker pools' tests."""
from __future__ import annotations

import pytest

from tests.docker_engine import DockerEngine, EngineUnavailable
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


@pytest.fixture(scope="session")
def docker_engine():
    """A dockerd of the suite's own (tests/docker_engine.py) with a busybox image imported. Its
    address (engine.env(), DOCKER_HOST) is for the tests that use it to pass on: the others'
    agents see no engine. Skips only if no engine can run here."""
    try:
        engine = DockerEngine()
    except EngineUnavailable as exc:
        pytest.skip(f"no Docker engine: {exc}")
    try:
        try:
            engine.start()
        except EngineUnavailable as exc:
            pytest.skip(f"no Docker engine: {exc}")
        engine.import_busybox()
        yield engine
    finally:
        engine.stop()


@pytest.fixture(scope="session")
def agent_image(docker_engine) -> str:
    """The image docker pools run their agents in, made in the suite's engine as the operator
    makes it (heaven.control.pools.docker.import_host_image: the host's trees are mounted)."""
    from heaven.control.pools.docker import import_host_image

    return import_host_image(docker_engine.client, "heaven-test/agent-host:1")


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
