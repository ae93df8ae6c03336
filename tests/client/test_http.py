"""The sync and async clients (heaven.client.http): the same calls, the same answers and
errors, and pages() following X-Continue, against a real controller on loopback."""
from __future__ import annotations

import asyncio

import pytest

from heaven.client.errors import ClientError
from heaven.client.http import AsyncClient, Client
from tests.live import LiveCluster

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = LiveCluster(tmp_path_factory.mktemp("client"))
    try:
        cluster.start_controller()
        yield cluster
    finally:
        cluster.stop()


def test_sync_and_async_give_the_same_answers(cluster):
    with Client(cluster.url, token=cluster.token) as sync:
        submitted = [sync.submit(command=["true"], name=f"c{i}")["id"] for i in range(5)]
        listed = [j["id"] for j in sync.jobs()]
        paged = [[j["id"] for j in page] for page in sync.pages("jobs", limit=2)]
        with pytest.raises(ClientError) as missing:
            sync.job(10_000)

    async def walk():
        async with AsyncClient(cluster.url, token=cluster.token) as c:
            jobs = [j["id"] for j in await c.jobs()]
            pages = [[j["id"] for j in page] async for page in c.pages("jobs", limit=2)]
            try:
                await c.job(10_000)
            except ClientError as exc:
                return jobs, pages, exc
        raise AssertionError("no error for a missing job")

    jobs, pages, async_missing = asyncio.run(walk())
    assert listed == jobs == sorted(submitted, reverse=True)
    assert paged == pages == [listed[0:2], listed[2:4], listed[4:5]]
    assert (missing.value.status, missing.value.field, missing.value.message) == \
        (async_missing.status, async_missing.field, async_missing.message) == (404, "job", "job 10000 does not exist")


def test_an_unreachable_controller_is_a_client_error():
    with pytest.raises(ClientError, match="cannot reach the controller at http://127.0.0.1:9"):
        Client("http://127.0.0.1:9", use_stored=False).health()

    async def call():
        async with AsyncClient("http://127.0.0.1:9", use_stored=False) as c:
            await c.health()

    with pytest.raises(ClientError, match="cannot reach the controller"):
        asyncio.run(call())
