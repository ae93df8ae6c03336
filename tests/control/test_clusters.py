"""/api/v1/clusters: clusters under organizations, their quota and live figures, who may
change them, deletion only when empty, join tokens that put nodes in them, and jobs
that may name only their own organization's clusters.

alice owns acme, bob is a member of it; carol owns beta.
"""
import pytest

from tests.control.conftest import person

CLUSTERS = "/api/v1/clusters"
ORGS = "/api/v1/organizations"


@pytest.fixture
def world(auth_app):
    api = auth_app()
    h = {name: person(api, name) for name in ("alice", "bob", "carol")}
    acme = api.post(ORGS, json={"name": "acme"}, headers=h["alice"]).json()
    api.post(ORGS, json={"name": "beta"}, headers=h["carol"])
    assert api.post(f"{ORGS}/join", json={"invite_code": acme["invite_code"]}, headers=h["bob"]).status_code == 200
    return api, h, acme


def _create(api, who, **body):
    answer = api.post(CLUSTERS, json={"name": "gpu", **body}, headers=who)
    assert answer.status_code == 201, answer.text
    return answer.json()


def _join(api, cluster_id, who, node: str, cores: int = 2, offset: int = 0, **extra):
    token = api.post(f"{CLUSTERS}/{cluster_id}/join-tokens", json={"name": "rack"}, headers=who).json()["token"]
    return api.post("/api/v1/agents/register", json={"name": node, "local_cores": list(range(cores)),
                                                     "core_offset": offset, "memory_mb": 1000, **extra},
                    headers={"Authorization": f"Bearer {token}"})


def test_a_cluster_is_created_under_an_organization_with_a_fixed_quota(world):
    api, h, acme = world
    made = _create(api, h["alice"], quota_cores=4, quota_memory_mb=2048, quota_gpus=1)
    me = api.get("/api/v1/auth/me", headers=h["alice"]).json()
    assert (made["org_id"], made["name"], made["creator_id"], made["nodes"]) == (acme["id"], "gpu", me["id"], [])
    assert made["quota"] == {"cores": 4, "memory_mb": 2048, "gpus": 1}
    assert made["allocated"] == {"cores": 0, "memory_mb": 0, "gpus": 0}
    assert made["available"] == made["quota"]
    assert api.get(f"{CLUSTERS}/{made['id']}", headers=h["bob"]).json() == made  # members see it
    assert [c["id"] for c in api.get(CLUSTERS, headers=h["bob"]).json()] == [made["id"]]
    assert api.get(CLUSTERS, headers=h["carol"]).json() == []
    # the same name in another organization is another cluster
    assert _create(api, h["carol"], org="beta")["id"] != made["id"]
    again = api.post(CLUSTERS, json={"name": "gpu"}, headers=h["alice"])
    assert again.status_code == 409 and again.json()["field"] == "name"


def test_only_an_admin_or_owner_makes_or_changes_a_cluster(world):
    api, h, acme = world
    refused = api.post(CLUSTERS, json={"name": "mine", "org": "acme"}, headers=h["bob"])
    assert refused.status_code == 403 and "admin" in refused.json()["message"]
    made = _create(api, h["alice"], quota_cores=4)
    for method, path, body in (("PATCH", "", {"quota_cores": 1}), ("DELETE", "", None),
                               ("POST", "/join-tokens", {"name": "x"})):
        answer = api.request(method, f"{CLUSTERS}/{made['id']}{path}", json=body, headers=h["bob"])
        assert answer.status_code == 403, answer.text
    assert api.get(f"{CLUSTERS}/{made['id']}", headers=h["alice"]).json()["quota"]["cores"] == 4


def test_the_quota_changes_only_in_the_fields_given(world):
    api, h, acme = world
    made = _create(api, h["alice"], quota_cores=4, quota_memory_mb=100)
    changed = api.patch(f"{CLUSTERS}/{made['id']}", json={"quota_cores": 2}, headers=h["alice"]).json()
    assert changed["quota"] == {"cores": 2, "memory_mb": 100, "gpus": None}
    lifted = api.patch(f"{CLUSTERS}/{made['id']}", json={"quota_memory_mb": None}, headers=h["alice"]).json()
    assert lifted["quota"] == {"cores": 2, "memory_mb": None, "gpus": None}
    assert lifted["available"] == {"cores": 2, "memory_mb": None, "gpus": None}


def test_a_join_token_of_a_cluster_puts_its_nodes_there(world):
    api, h, acme = world
    made = _create(api, h["alice"], quota_cores=1)
    joined = _join(api, made["id"], h["alice"], "g1")
    assert joined.status_code == 200 and joined.json()["cluster"] == "gpu"
    assert api.get("/api/v1/nodes/g1", headers=h["bob"]).json()["cluster"] == "gpu"
    assert api.get("/api/v1/nodes/g1", headers=h["carol"]).status_code == 404
    assert [n["name"] for n in api.get("/api/v1/nodes", headers=h["carol"]).json()] == []
    elsewhere = _join(api, made["id"], h["alice"], "g2", offset=10, cluster="cpu")
    assert elsewhere.status_code == 409 and elsewhere.json()["field"] == "cluster"
    tokens = api.get(f"{ORGS}/{acme['id']}/join-tokens", headers=h["alice"]).json()
    assert {t["cluster"] for t in tokens} == {"gpu"}
    assert api.get(f"{CLUSTERS}/{made['id']}", headers=h["alice"]).json()["nodes"] == ["g1"]


def test_allocated_and_available_follow_the_jobs_placed_in_it(world):
    api, h, acme = world
    made = _create(api, h["alice"], quota_cores=3, quota_memory_mb=1000)
    assert _join(api, made["id"], h["alice"], "g1", cores=4).status_code == 200
    job = api.post("/api/v1/jobs", json={"command": ["sleep", "60"], "cores": 2, "memory_mb": 300, "cluster": "gpu",
                                         "no_wait": True}, headers=h["bob"])
    assert job.status_code == 201 and job.json()["state"] == "assigned", job.text
    shown = api.get(f"{CLUSTERS}/{made['id']}", headers=h["alice"]).json()
    assert shown["allocated"] == {"cores": 2, "memory_mb": 300, "gpus": 0}
    assert shown["available"] == {"cores": 1, "memory_mb": 700, "gpus": None}
    busy = api.delete(f"{CLUSTERS}/{made['id']}", headers=h["alice"])
    assert busy.status_code == 409 and "1 nodes" in busy.json()["message"] and "1 active jobs" in busy.json()["message"]


def test_an_empty_cluster_is_deleted_with_its_join_tokens(world):
    api, h, acme = world
    made = _create(api, h["alice"])
    api.post(f"{CLUSTERS}/{made['id']}/join-tokens", json={"name": "rack"}, headers=h["alice"])
    assert api.delete(f"{CLUSTERS}/{made['id']}", headers=h["alice"]).status_code == 204
    assert api.get(f"{CLUSTERS}/{made['id']}", headers=h["alice"]).status_code == 404
    assert api.get(f"{ORGS}/{acme['id']}/join-tokens", headers=h["alice"]).json() == []


def test_a_job_names_only_a_cluster_of_its_own_organization(world):
    api, h, acme = world
    _create(api, h["carol"], org="beta", name="theirs")
    for name in ("theirs", "nosuch"):
        refused = api.post("/api/v1/jobs", json={"command": ["true"], "cluster": name}, headers=h["alice"])
        assert refused.status_code == 404 and refused.json() == {
            "error": "not_found", "message": f"cluster: cluster {name} does not exist", "field": "cluster"}
    assert api.get("/api/v1/jobs", headers=h["alice"]).json() == []  # nothing was written


def test_creating_needs_an_organization_of_the_callers(world):
    api, h, acme = world
    for org in ("beta", "nosuch", "999999"):
        refused = api.post(CLUSTERS, json={"name": "x", "org": org}, headers=h["alice"])
        assert refused.status_code == 404 and refused.json()["field"] == "org", refused.text
    lonely = person(api, "erin")
    assert api.post(CLUSTERS, json={"name": "x"}, headers=lonely).status_code == 403
    assert api.post(CLUSTERS, json={"name": "x"}, headers={"Authorization": ""}).status_code == 401


def test_a_renamed_clusters_join_tokens_still_put_nodes_in_it(world):
    api, h, acme = world
    made = _create(api, h["alice"], quota_cores=1)
    token = api.post(f"{CLUSTERS}/{made['id']}/join-tokens", json={"name": "rack"}, headers=h["alice"]).json()["token"]
    renamed = api.put(f"/clusters/{made['id']}", json={"name": "gpu-2"}, headers=h["alice"])
    assert renamed.status_code == 200, renamed.text
    joined = api.post("/api/v1/agents/register", json={"name": "g9", "local_cores": [0], "memory_mb": 100},
                      headers={"Authorization": f"Bearer {token}"})
    assert joined.status_code == 200 and joined.json()["cluster"] == "gpu-2"
    assert [c["name"] for c in api.get(CLUSTERS, headers=h["alice"]).json()] == ["gpu-2"]  # no "gpu" came back
