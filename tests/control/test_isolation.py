"""Isolation, table-driven over every route of the app (issue 8, "What it must show" 2).

``ROUTES`` has one entry per (method, path) of the app's own route list: how a member
of organization B calls that route against organization A's objects, and what it
must answer. The table is checked against ``app.routes``, so a route added without
an entry fails here. Cross-organization reads and writes answer 404, never 200 or
403; listings answer 200 without a trace of A; the agent routes authenticate nodes,
so B's node presenting its own credential for A's node gets 401. Routes that serve
no organization's objects say why.

To add a route: add ``(METHOD, path): Cross(lambda w: (METHOD, url, {json/data}))``
(or ``Listing``/``AgentCross``/``Unscoped``), with ``w`` the ``World`` below.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from heaven.config import ControllerSettings
from heaven.control.app import create_app
from tests.control.conftest import person, sign_in_as_admin


@dataclass
class World:
    api: TestClient
    a: dict  # organization A (acme), owned by alice
    b: dict  # organization B (beta), owned by carol: the caller of every cross call
    alice: dict
    carol: dict
    alice_id: int
    cluster: dict  # A's cluster "gpu"
    job: dict  # A's job, in that cluster
    node: str  # A's node, joined with the cluster's join token
    b_node_credential: str
    join_token_id: int  # A's
    api_token_id: int  # alice's
    deployment: dict  # A's, in its cluster "gpu", held (created, not started)


Call = tuple[str, str, dict]


@dataclass(frozen=True)
class Cross:
    """Called by B against A's object: 404, exactly as a missing one."""
    build: Callable[[World], Call]
    status: int = 404


@dataclass(frozen=True)
class Listing:
    """Called by B: 200, and nothing of A's in the answer."""
    build: Callable[[World], Call]


@dataclass(frozen=True)
class AgentCross:
    """B's node, with its own credential, calling as A's node: 401 (node routes take nodes, not people)."""
    build: Callable[[World], Call]


@dataclass(frozen=True)
class Unscoped:
    """Serves no organization's objects; ``why`` says what it serves instead."""
    why: str


def _cross(method: str, url: Callable[[World], str], **kw) -> Cross:
    return Cross(lambda w: (method, url(w), {k: (v(w) if callable(v) else v) for k, v in kw.items()}))


def _list(url: str) -> Listing:
    return Listing(lambda w: ("GET", url, {}))


ORG = lambda w: f"/api/v1/organizations/{w.a['id']}"  # noqa: E731
ROOT_ORG = lambda w: f"/organizations/{w.a['id']}"  # noqa: E731
CLUSTER = lambda w: f"/api/v1/clusters/{w.cluster['id']}"  # noqa: E731
ROOT_CLUSTER = lambda w: f"/clusters/{w.cluster['id']}"  # noqa: E731
JOB = lambda w: f"/api/v1/jobs/{w.job['id']}"  # noqa: E731
DEPLOYMENT = lambda w: f"/api/v1/deployments/{w.deployment['id']}"  # noqa: E731
ROOT_DEPLOYMENT = lambda w: f"/deployments/{w.deployment['id']}"  # noqa: E731
ROOT_DEPLOYMENT_BODY = lambda w: {"name": "probe", "docker_image": "probe:1", "cluster_id": w.cluster["id"]}  # noqa: E731
DOCS = "the API's own documentation: no organization's objects"
PERSONAL = "the caller's own person and tokens only"
ORIGINAL = ("the original protocol: it has no identities, so it cannot tell organizations apart; it is "
            "served only on loopback (or by explicit setting) and its objects are the default organization's")
ROOT_CLUSTER_BODY = lambda w: {"name": "probe", "total_ram": 1, "total_cpu": 1, "total_gpu": 0,  # noqa: E731
                               "organization_id": w.a["id"]}

ROUTES: dict[tuple[str, str], Cross | Listing | AgentCross | Unscoped] = {
    ("GET", "/openapi.json"): Unscoped(DOCS),
    ("GET", "/docs"): Unscoped(DOCS),
    ("GET", "/docs/oauth2-redirect"): Unscoped(DOCS),
    ("GET", "/redoc"): Unscoped(DOCS),
    ("GET", "/health"): Unscoped("the controller's liveness: no organization's objects"),
    ("GET", "/"): Unscoped("the dashboard's static page; its data comes from the scoped API"),
    ("GET", "/status"): Unscoped("the original status page; its data comes from /summary"),
    ("GET", "/api/v1/dashboard"): _list("/api/v1/dashboard"),
    ("GET", "/api/v1/dashboard/stream"): Unscoped(
        "a Server-Sent Events stream of the /api/v1/dashboard document (the Listing above), which never ends: "
        "its scoping is that document's"),
    ("GET", "/metrics"): Unscoped("Prometheus figures, read at scrape time for the caller's organizations "
                                  "(labels, not names: tests/control/test_metrics.py covers their scope)"),
    # people and their tokens
    ("POST", "/api/v1/auth/register"): Unscoped("makes a person, who belongs to no organization yet"),
    ("POST", "/api/v1/auth/token"): Unscoped("signs a person in: no organization's objects"),
    ("POST", "/api/v1/auth/logout"): Unscoped(PERSONAL),
    ("GET", "/api/v1/auth/me"): Unscoped(PERSONAL),
    ("POST", "/api/v1/auth/tokens"): Unscoped(PERSONAL),
    ("GET", "/api/v1/auth/tokens"): Unscoped(PERSONAL),
    ("DELETE", "/api/v1/auth/tokens/{token_id}"): _cross("DELETE", lambda w: f"/api/v1/auth/tokens/{w.api_token_id}"),
    # organizations
    ("POST", "/api/v1/organizations"): Unscoped("makes a new organization of the caller's"),
    ("GET", "/api/v1/organizations"): _list("/api/v1/organizations"),
    ("POST", "/api/v1/organizations/join"): Unscoped("the invite code is how one enters an organization"),
    ("GET", "/api/v1/organizations/{org_id}"): _cross("GET", ORG),
    ("PATCH", "/api/v1/organizations/{org_id}"): _cross("PATCH", ORG, json={"name": "taken-over"}),
    ("DELETE", "/api/v1/organizations/{org_id}"): _cross("DELETE", ORG),
    ("POST", "/api/v1/organizations/{org_id}/invite/regenerate"): _cross("POST", lambda w: ORG(w) + "/invite/regenerate"),
    ("GET", "/api/v1/organizations/{org_id}/members"): _cross("GET", lambda w: ORG(w) + "/members"),
    ("DELETE", "/api/v1/organizations/{org_id}/members/{person_id}"):
        _cross("DELETE", lambda w: f"{ORG(w)}/members/{w.alice_id}"),
    ("PATCH", "/api/v1/organizations/{org_id}/members/{person_id}"):
        _cross("PATCH", lambda w: f"{ORG(w)}/members/{w.alice_id}", json={"role": "member"}),
    ("POST", "/api/v1/organizations/{org_id}/join-tokens"): _cross("POST", lambda w: ORG(w) + "/join-tokens",
                                                                   json={"name": "probe"}),
    ("GET", "/api/v1/organizations/{org_id}/join-tokens"): _cross("GET", lambda w: ORG(w) + "/join-tokens"),
    ("DELETE", "/api/v1/organizations/{org_id}/join-tokens/{token_id}"):
        _cross("DELETE", lambda w: f"{ORG(w)}/join-tokens/{w.join_token_id}"),
    # jobs
    ("POST", "/api/v1/jobs"): _cross("POST", lambda w: "/api/v1/jobs",
                                     json=lambda w: {"command": ["true"], "org": str(w.a["id"])}),
    ("GET", "/api/v1/jobs"): _list("/api/v1/jobs"),
    ("GET", "/api/v1/jobs/{job_id}"): _cross("GET", JOB),
    ("POST", "/api/v1/jobs/{job_id}/cancel"): _cross("POST", lambda w: JOB(w) + "/cancel"),
    ("GET", "/api/v1/jobs/{job_id}/logs"): _cross("GET", lambda w: JOB(w) + "/logs"),
    # nodes
    ("GET", "/api/v1/nodes"): _list("/api/v1/nodes"),
    ("GET", "/api/v1/nodes/{name}"): _cross("GET", lambda w: f"/api/v1/nodes/{w.node}"),
    # clusters
    ("POST", "/api/v1/clusters"): _cross("POST", lambda w: "/api/v1/clusters",
                                         json=lambda w: {"name": "probe", "org": w.a["name"]}),
    ("GET", "/api/v1/clusters"): _list("/api/v1/clusters"),
    ("GET", "/api/v1/clusters/{cluster_id}"): _cross("GET", CLUSTER),
    ("PATCH", "/api/v1/clusters/{cluster_id}"): _cross("PATCH", CLUSTER, json={"quota_cores": 0}),
    ("DELETE", "/api/v1/clusters/{cluster_id}"): _cross("DELETE", CLUSTER),
    ("POST", "/api/v1/clusters/{cluster_id}/join-tokens"): _cross("POST", lambda w: CLUSTER(w) + "/join-tokens",
                                                                  json={"name": "probe"}),
    # agents: nodes, not people
    ("POST", "/api/v1/agents/register"): Unscoped(
        "joins the organization of the join token presented; node names are global (the core map), so a "
        "name in use answers 409 name_taken and tells nothing else"),
    ("POST", "/api/v1/agents/{name}/report"): AgentCross(lambda w: ("POST", f"/api/v1/agents/{w.node}/report",
                                                                    {"json": {}})),
    ("PUT", "/api/v1/agents/{name}/cores"): AgentCross(lambda w: ("PUT", f"/api/v1/agents/{w.node}/cores",
                                                                  {"json": {"local_cores": [0]}})),
    ("GET", "/api/v1/agents/{name}/assignments"): AgentCross(
        lambda w: ("GET", f"/api/v1/agents/{w.node}/assignments", {})),
    ("GET", "/api/v1/events"): _list("/api/v1/events"),
    ("GET", "/api/v1/report"): _list("/api/v1/report"),  # tests/control/test_accounting.py: B's jobs' figures
    # the original protocol
    ("POST", "/request"): Unscoped(ORIGINAL),
    ("POST", "/complete"): Unscoped(ORIGINAL),
    ("GET", "/summary"): Unscoped(ORIGINAL),
    ("POST", "/register"): Unscoped("makes a person (or an original agent: " + ORIGINAL + ")"),
    # the deployment service's API at the root
    ("POST", "/token"): Unscoped("signs a person in: no organization's objects"),
    ("POST", "/join-organization"): Unscoped("the invite code is how one enters an organization"),
    ("POST", "/organizations"): Unscoped("makes a new organization of the caller's"),
    ("POST", "/organizations/"): Unscoped("makes a new organization of the caller's"),
    ("GET", "/organizations"): _list("/organizations"),
    ("GET", "/organizations/"): _list("/organizations/"),
    ("GET", "/organizations/{org_id}"): _cross("GET", ROOT_ORG),
    ("PUT", "/organizations/{org_id}"): _cross("PUT", ROOT_ORG, json={"name": "taken-over"}),
    ("DELETE", "/organizations/{org_id}"): _cross("DELETE", ROOT_ORG),
    ("POST", "/organizations/{org_id}/regenerate-invite"): _cross("POST", lambda w: ROOT_ORG(w) + "/regenerate-invite"),
    ("POST", "/clusters"): _cross("POST", lambda w: "/clusters", json=ROOT_CLUSTER_BODY),
    ("POST", "/clusters/"): _cross("POST", lambda w: "/clusters/", json=ROOT_CLUSTER_BODY),
    ("GET", "/clusters"): _list("/clusters"),
    ("GET", "/clusters/"): _list("/clusters/"),
    ("GET", "/clusters/{cluster_id}"): _cross("GET", ROOT_CLUSTER),
    ("PUT", "/clusters/{cluster_id}"): _cross("PUT", ROOT_CLUSTER, json={"total_cpu": 0}),
    ("DELETE", "/clusters/{cluster_id}"): _cross("DELETE", ROOT_CLUSTER),
    # deployments, product and root (tests/control/test_deployment_isolation.py adds the same-organization roles)
    ("POST", "/api/v1/deployments"): _cross("POST", lambda w: "/api/v1/deployments",
                                            json=lambda w: {"name": "probe", "command": ["true"], "cluster": "gpu",
                                                            "org": str(w.a["id"])}),
    ("GET", "/api/v1/deployments"): _list("/api/v1/deployments"),
    ("GET", "/api/v1/deployments/{deployment_id}"): _cross("GET", DEPLOYMENT),
    ("PUT", "/api/v1/deployments/{deployment_id}"): _cross("PUT", DEPLOYMENT, json={"name": "taken-over"}),
    ("DELETE", "/api/v1/deployments/{deployment_id}"): _cross("DELETE", DEPLOYMENT),
    ("POST", "/api/v1/deployments/{deployment_id}/start"): _cross("POST", lambda w: DEPLOYMENT(w) + "/start"),
    ("POST", "/api/v1/deployments/{deployment_id}/stop"): _cross("POST", lambda w: DEPLOYMENT(w) + "/stop"),
    ("POST", "/api/v1/deployments/{deployment_id}/cancel"): _cross("POST", lambda w: DEPLOYMENT(w) + "/cancel"),
    ("POST", "/deployments"): _cross("POST", lambda w: "/deployments", json=ROOT_DEPLOYMENT_BODY),
    ("POST", "/deployments/"): _cross("POST", lambda w: "/deployments/", json=ROOT_DEPLOYMENT_BODY),
    ("GET", "/deployments"): _list("/deployments"),
    ("GET", "/deployments/"): _list("/deployments/"),
    ("GET", "/deployments/{deployment_id}"): _cross("GET", ROOT_DEPLOYMENT),
    ("PUT", "/deployments/{deployment_id}"): _cross("PUT", ROOT_DEPLOYMENT, json={"name": "taken-over"}),
    ("DELETE", "/deployments/{deployment_id}"): _cross("DELETE", ROOT_DEPLOYMENT),
    ("POST", "/deployments/{deployment_id}/start"): _cross("POST", lambda w: ROOT_DEPLOYMENT(w) + "/start"),
    ("POST", "/deployments/{deployment_id}/stop"): _cross("POST", lambda w: ROOT_DEPLOYMENT(w) + "/stop"),
    ("POST", "/deployments/{deployment_id}/cancel"): _cross("POST", lambda w: ROOT_DEPLOYMENT(w) + "/cancel"),
    ("GET", "/deployments/{deployment_id}/dependencies"): _cross("GET", lambda w: ROOT_DEPLOYMENT(w) + "/dependencies"),
    ("GET", "/deployments/{deployment_id}/dependents"): _cross("GET", lambda w: ROOT_DEPLOYMENT(w) + "/dependents"),
}


def app_routes(app) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves, from its own route list (HEAD aside:
    Starlette adds it to every GET)."""
    return {(method, ctx.path) for ctx in iter_route_contexts(app.routes)
            for method in (getattr(ctx, "methods", None) or ()) if method != "HEAD"}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    from argon2 import PasswordHasher

    from heaven.control import passwords

    with pytest.MonkeyPatch.context() as mp:  # the cheapest argon2id: these tests hash many passwords
        mp.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
        root = tmp_path_factory.mktemp("isolation")
        app = create_app(ControllerSettings(database_url=f"sqlite:///{root / 'heaven.db'}", scheduler_interval=60,
                                            auth_rate_per_minute=10_000))
        with TestClient(app) as api:
            sign_in_as_admin(api, person=False)
            yield _build(api)


def _ok(answer, status: int = 200) -> dict:
    assert answer.status_code == status, answer.text
    return answer.json()


def _build(api: TestClient) -> World:
    alice, carol = person(api, "alice"), person(api, "carol")
    a = _ok(api.post("/api/v1/organizations", json={"name": "acme"}, headers=alice), 201)
    b = _ok(api.post("/api/v1/organizations", json={"name": "beta"}, headers=carol), 201)
    cluster = _ok(api.post("/api/v1/clusters", json={"name": "gpu", "org": "acme", "quota_cores": 4}, headers=alice), 201)
    join = _ok(api.post(f"/api/v1/clusters/{cluster['id']}/join-tokens", json={"name": "rack"}, headers=alice), 201)
    _ok(api.post("/api/v1/agents/register", json={"name": "a-node", "local_cores": [0, 1], "memory_mb": 100},
                 headers={"Authorization": f"Bearer {join['token']}"}))
    b_join = _ok(api.post(f"/api/v1/organizations/{b['id']}/join-tokens", json={"name": "b"}, headers=carol), 201)
    b_node = _ok(api.post("/api/v1/agents/register", json={"name": "b-node", "local_cores": [0], "core_offset": 100},
                          headers={"Authorization": f"Bearer {b_join['token']}"}))
    job = _ok(api.post("/api/v1/jobs", json={"command": ["sleep", "60"], "cluster": "gpu"}, headers=alice), 201)
    token = _ok(api.post("/api/v1/auth/tokens", json={"name": "alice-cli"}, headers=alice), 201)
    alice_id = _ok(api.get("/api/v1/auth/me", headers=alice))["id"]
    deployment = _ok(api.post("/api/v1/deployments", json={"name": "acme-svc", "command": ["sleep", "60"],
                                                           "cluster": "gpu", "org": "acme"}, headers=alice), 201)
    return World(api, a, b, alice, carol, alice_id, cluster, job, "a-node", b_node["credential"], join["id"],
                 token["id"], deployment)


def test_every_route_of_the_app_has_an_entry(world):
    served = app_routes(world.api.app)
    assert served - set(ROUTES) == set(), "routes without an isolation entry (add them to ROUTES)"
    assert set(ROUTES) - served == set(), "entries for routes the app no longer serves"


def _call(world: World, call: Call, headers: dict):
    method, url, kwargs = call
    return world.api.request(method, url, headers=headers, **kwargs)


def test_another_organizations_objects_answer_404_to_every_read_and_write(world):
    wrong = []
    for route, entry in ROUTES.items():
        if isinstance(entry, Cross):
            answer = _call(world, entry.build(world), world.carol)
            if answer.status_code != entry.status or answer.json().get("error") != "not_found":
                wrong.append(f"{route}: {answer.status_code} {answer.text[:200]}")
    assert not wrong, "\n".join(wrong)


def test_the_404s_are_about_existing_objects(world):
    """The same reads by A's owner find them, so the 404s above are isolation, not absence."""
    for route, entry in ROUTES.items():
        method, url, kwargs = entry.build(world) if isinstance(entry, Cross) else (None, None, None)
        if method == "GET":
            assert _call(world, (method, url, kwargs), world.alice).status_code != 404, route


def test_listings_show_nothing_of_another_organization(world):
    markers = ("acme", "a-node", f'"org_id":{world.a["id"]}', f'"organization_id":{world.a["id"]}')
    for route, entry in ROUTES.items():
        if isinstance(entry, Listing):
            answer = _call(world, entry.build(world), world.carol)
            assert answer.status_code == 200, (route, answer.text)
            assert not [m for m in markers if m in answer.text.replace(" ", "")], (route, answer.text[:500])
            mine = _call(world, entry.build(world), world.alice)
            if route[1] != "/api/v1/events":  # events name ids, not names; A's own listing shows A
                assert any(m in mine.text.replace(" ", "") for m in markers), (route, mine.text[:300])


def test_another_node_credential_is_refused_on_a_nodes_routes(world):
    for route, entry in ROUTES.items():
        if isinstance(entry, AgentCross):
            answer = _call(world, entry.build(world), {"Authorization": f"Bearer {world.b_node_credential}"})
            assert answer.status_code == 401, (route, answer.text)
            assert _call(world, entry.build(world), world.carol).status_code == 401, route  # a person's token
            assert _call(world, entry.build(world), {"Authorization": ""}).status_code == 401, route


def test_nothing_of_a_changed(world):
    """Every cross write above was refused before it wrote anything (the world is shared by
    the module: this runs after them, in file order)."""
    api, alice = world.api, world.alice
    assert _ok(api.get(f"/api/v1/organizations/{world.a['id']}", headers=alice))["name"] == "acme"
    assert _ok(api.get(f"/api/v1/clusters/{world.cluster['id']}", headers=alice))["quota"]["cores"] == 4
    assert _ok(api.get(f"/api/v1/jobs/{world.job['id']}", headers=alice))["state"] in ("pending", "assigned")
    assert [t["id"] for t in _ok(api.get("/api/v1/auth/tokens", headers=alice))] == [world.api_token_id]
    assert [t["name"] for t in _ok(api.get(f"/api/v1/organizations/{world.a['id']}/join-tokens", headers=alice))] == ["rack"]
    assert {c["name"] for c in _ok(api.get("/api/v1/clusters", headers=alice))} == {"gpu"}
    kept = _ok(api.get(f"/api/v1/deployments/{world.deployment['id']}", headers=alice))
    assert (kept["name"], kept["status"]) == ("acme-svc", "pending")
    assert [d["name"] for d in _ok(api.get("/api/v1/deployments", headers=alice))] == ["acme-svc"]


def test_every_agent_route_refuses_an_unauthenticated_call(world):
    """Every route under /api/v1/agents/, from the app's own list: no token, or a person's, is a 401."""
    agent_routes = sorted(r for r in app_routes(world.api.app) if r[1].startswith("/api/v1/agents/"))
    assert len(agent_routes) >= 3
    for method, path in agent_routes:
        url = path.replace("{name}", world.node)
        for headers in ({"Authorization": ""}, world.alice):
            answer = world.api.request(method, url, headers=headers, json={} if method == "POST" else None)
            assert answer.status_code == 401, (method, path, answer.text)
            assert answer.headers["WWW-Authenticate"].startswith("Bearer")
