"""Isolation of every deployment route, product and root, generated from the app's own route
list (a new deployment route cannot be forgotten): another organization's deployment answers
404 for every method, never 200 or 403; a member of its own organization who is neither its
owner nor an admin reads it but gets 403 on every change."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import insert

from heaven.store.tables import clusters
from tests.control.conftest import person

ONE = re.compile(r"\{deployment_id\}")
BODIES = {("PUT", "/api/v1/deployments/{deployment_id}"): {"name": "renamed"},
          ("PUT", "/deployments/{deployment_id}"): {"name": "renamed"}}


def _routes(routes):
    """(method, path) of every route, through included routers."""
    for route in routes:
        if hasattr(route, "original_router"):
            yield from _routes(route.original_router.routes)
        elif hasattr(route, "methods") and hasattr(route, "path"):
            for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
                yield method, route.path


def deployment_routes(app) -> list[tuple[str, str]]:
    return sorted({(m, p) for m, p in _routes(app.routes) if "deployments" in p and ONE.search(p)})


@pytest.fixture
def two_orgs(auth_app):
    client = auth_app()
    owner, member, stranger = person(client, "owner1"), person(client, "member1"), person(client, "stranger")
    org = client.post("/api/v1/organizations", json={"name": "mine"}, headers=owner).json()
    assert client.post("/api/v1/organizations/join", json={"invite_code": org["invite_code"]},
                       headers=member).status_code == 200
    assert client.post("/api/v1/organizations", json={"name": "theirs"}, headers=stranger).status_code == 201
    with client.app.state.controller.store.begin() as conn:
        cluster_id = conn.execute(insert(clusters).values(org_id=org["id"], name="gpu")).inserted_primary_key[0]
    return client, owner, member, stranger, org, cluster_id


def _deployment(client, owner, org_id: int) -> int:
    made = client.post("/api/v1/deployments", json={"name": "svc", "command": ["sleep", "1"], "org": str(org_id)},
                       headers=owner)
    assert made.status_code == 201, made.text
    return made.json()["id"]


def test_the_table_covers_both_apis(two_orgs):
    routes = deployment_routes(two_orgs[0].app)
    for prefix in ("/api/v1/deployments", "/deployments"):
        for method, suffix in (("GET", ""), ("PUT", ""), ("DELETE", ""), ("POST", "/start"), ("POST", "/stop"),
                               ("POST", "/cancel")):
            assert (method, f"{prefix}/{{deployment_id}}{suffix}") in routes
    assert ("GET", "/deployments/{deployment_id}/dependents") in routes


def test_another_organizations_deployment_answers_404_on_every_route(two_orgs):
    client, owner, _, stranger, org, _ = two_orgs
    for method, path in deployment_routes(client.app):
        deployment_id = _deployment(client, owner, org["id"])  # a fresh one: a route may end it
        answer = client.request(method, path.replace("{deployment_id}", str(deployment_id)), headers=stranger,
                                json=BODIES.get((method, path)))
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.json()["field"] == "deployment"
        # and it is untouched
        assert client.get(f"/api/v1/deployments/{deployment_id}", headers=owner).json()["state"] == "pending"


def test_another_organization_cannot_list_or_create_there(two_orgs):
    client, owner, _, stranger, org, cluster_id = two_orgs
    _deployment(client, owner, org["id"])
    assert client.get("/api/v1/deployments", headers=stranger).json() == []
    assert client.get("/deployments/", headers=stranger).json() == []
    product = client.post("/api/v1/deployments", json={"name": "x", "command": ["true"], "org": str(org["id"])},
                          headers=stranger)
    assert product.status_code == 404 and product.json()["field"] == "org"
    root = client.post("/deployments/", json={"name": "x", "docker_image": "x", "cluster_id": cluster_id},
                       headers=stranger)
    assert root.status_code == 404 and root.json()["field"] == "cluster_id"


def test_a_plain_member_reads_but_may_not_change_anothers_deployment(two_orgs):
    client, owner, member, _, org, _ = two_orgs
    for method, path in deployment_routes(client.app):
        deployment_id = _deployment(client, owner, org["id"])
        answer = client.request(method, path.replace("{deployment_id}", str(deployment_id)), headers=member,
                                json=BODIES.get((method, path)))
        expected = 200 if method == "GET" else 403
        assert answer.status_code == expected, (method, path, answer.text)
