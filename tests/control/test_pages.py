"""Cursor pagination of jobs, events, nodes and deployments (heaven.control.pages)."""
from __future__ import annotations

import base64

import pytest

from heaven.control.pages import HEADER, encode
from tests.control.conftest import register


def _walk(client, url: str, **params) -> tuple[list[dict], int]:
    """Every item of a list, following X-Continue; and how many pages it took."""
    items, pages, token = [], 0, None
    while True:
        answer = client.get(url, params={**params, **({"continue": token} if token else {})})
        assert answer.status_code == 200, answer.text
        items += answer.json()
        pages += 1
        token = answer.headers.get(HEADER)
        if token is None:
            return items, pages
        assert answer.headers["Link"].endswith('rel="next"') and f"continue={token}" in answer.headers["Link"]


@pytest.fixture
def api(controller_app):
    client = controller_app()
    for i in range(3):
        register(client, f"n{i}", 1, offset=10 * i)
    for i in range(7):
        assert client.post("/api/v1/jobs", json={"command": ["true"], "name": f"j{i}"}).status_code == 201
    for i in range(3):
        assert client.post("/api/v1/deployments", json={"name": f"d{i}", "command": ["true"]}).status_code == 201
    return client


def test_pages_hold_every_item_once_in_order(api):
    every = api.get("/api/v1/jobs").json()  # one unlimited page: what readers before pagination saw
    paged, pages = _walk(api, "/api/v1/jobs", limit=3)
    assert [j["id"] for j in paged] == [j["id"] for j in every] and len(every) == 10
    assert pages == 4  # 3 + 3 + 3 + 1
    events, _ = _walk(api, "/api/v1/events")
    paged_events, pages = _walk(api, "/api/v1/events", limit=4)
    assert [e["seq"] for e in paged_events] == [e["seq"] for e in events] and pages > 2
    nodes, pages = _walk(api, "/api/v1/nodes", limit=2)
    assert [n["name"] for n in nodes] == ["n0", "n1", "n2"] and pages == 2
    deployments, pages = _walk(api, "/api/v1/deployments", limit=1)
    assert [d["name"] for d in deployments] == ["d2", "d1", "d0"] and pages == 4  # the last page is empty


def test_a_page_is_a_keyset_position_not_an_offset(api):
    first = api.get("/api/v1/jobs", params={"limit": 2})
    token = first.headers[HEADER]
    assert api.post("/api/v1/jobs", json={"command": ["true"]}).status_code == 201  # a newer job meanwhile
    second = api.get("/api/v1/jobs", params={"limit": 2, "continue": token}).json()
    assert second[0]["id"] == first.json()[-1]["id"] - 1  # nothing repeated, nothing skipped


def test_filters_apply_on_every_page(api):
    api.post("/api/v1/jobs/1/cancel")
    cancelled, _ = _walk(api, "/api/v1/jobs", state="cancelled", limit=1)
    assert [j["id"] for j in cancelled] == [1]


BAD_TOKENS = ["%%%", "bm90IGpzb24", encode("nodes", 3), encode("jobs", "x"), encode("jobs", -1), encode("jobs", True),
              base64.urlsafe_b64encode(b'{"list":"jobs"}').decode(), base64.urlsafe_b64encode(b"\xff\xfe").decode()]


def test_bad_tokens_are_a_400_naming_the_field_and_limits_are_bounded(api):
    for token in BAD_TOKENS:
        answer = api.get("/api/v1/jobs", params={"continue": token})
        assert answer.status_code == 400, token
        body = answer.json()
        assert body["field"] == "continue" and body["error"] == "invalid_continue" and "jobs" in body["message"]
    for url in ("/api/v1/jobs", "/api/v1/events", "/api/v1/nodes", "/api/v1/deployments"):
        answer = api.get(url, params={"limit": 10001})
        assert answer.status_code == 422 and answer.json()["field"] == "limit", url
