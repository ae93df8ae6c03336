"""The deployment service's API at the root, over real HTTP on SQLite and PostgreSQL, used
the way a client of that service uses it: register, form login, an organization with an
invite code, a second person joining, a cluster with a fixed quota, updates, and
deletes answering ``true``. Every success is a 200 (creations too), and collection
routes answer with and without their trailing slash."""
import httpx
import pytest

from tests.live import LiveCluster


@pytest.fixture
def service(tmp_path, store_url):
    cluster = LiveCluster(tmp_path, database_url=store_url)
    cluster.start_controller()
    client = httpx.Client(base_url=cluster.url, timeout=30)  # a client of that service: no credentials of ours
    yield client
    client.close()
    cluster.stop()


def _person(client: httpx.Client, name: str) -> dict:
    registered = client.post("/register", json={"username": name, "email": f"{name}@example.org",
                                                "password": "a long enough password"})
    assert registered.status_code == 200, registered.text
    assert registered.json()["username"] == name and "password" not in registered.text
    token = client.post("/token", data={"username": name, "password": "a long enough password"})
    assert token.status_code == 200 and token.headers["content-type"] == "application/json"
    assert set(token.json()) == {"access_token", "token_type"} and token.json()["token_type"] == "bearer"
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def test_a_client_of_the_deployment_service(service):
    alice, bob = _person(service, "alice"), _person(service, "bob")
    org = service.post("/organizations/", json={"name": "lab"}, headers=alice)
    assert org.status_code == 200, org.text
    org = org.json()
    assert set(org) == {"id", "name", "invite_code", "created_at", "users"}
    assert [u["username"] for u in org["users"]] == ["alice"] and org["invite_code"]
    joined = service.post("/join-organization", json={"invite_code": org["invite_code"]}, headers=bob)
    assert joined.status_code == 200 and [u["username"] for u in joined.json()["users"]] == ["alice", "bob"]
    assert [o["id"] for o in service.get("/organizations", headers=bob).json()] == [org["id"]]

    made = service.post("/clusters/", json={"name": "gpu", "total_ram": 16, "total_cpu": 8, "total_gpu": 1,
                                            "organization_id": org["id"]}, headers=alice)
    assert made.status_code == 200, made.text
    cluster = made.json()
    assert {k: cluster[k] for k in ("name", "total_ram", "total_cpu", "total_gpu", "organization_id",
                                    "available_ram", "available_cpu", "available_gpu")} == {
        "name": "gpu", "total_ram": 16, "total_cpu": 8, "total_gpu": 1, "organization_id": org["id"],
        "available_ram": 16, "available_cpu": 8, "available_gpu": 1}
    # GB at the root, as its deployments' required_ram; MB in the product's own API.
    assert service.get(f"/api/v1/clusters/{cluster['id']}", headers=alice).json()["quota"]["memory_mb"] == 16 * 1024
    me = service.post("/register", json={"username": "carol", "email": "carol@example.org",
                                         "password": "a long enough password"}).json()
    assert cluster["creator_id"] != me["id"] and cluster["created_at"]
    assert service.get("/clusters", headers=bob).json() == service.get("/clusters/", headers=bob).json() == [cluster]
    assert service.put(f"/clusters/{cluster['id']}", json={"total_cpu": 2}, headers=bob).status_code == 403
    updated = service.put(f"/clusters/{cluster['id']}", json={"total_cpu": 2}, headers=alice)
    assert updated.status_code == 200 and (updated.json()["total_cpu"], updated.json()["available_cpu"]) == (2, 2)
    assert service.get(f"/clusters/{cluster['id']}", headers=bob).json()["total_ram"] == 16

    renamed = service.put(f"/organizations/{org['id']}", json={"name": "lab-2"}, headers=alice)
    assert renamed.status_code == 200 and renamed.json()["name"] == "lab-2"
    fresh = service.post(f"/organizations/{org['id']}/regenerate-invite", headers=alice)
    assert fresh.status_code == 200 and fresh.json()["invite_code"] != org["invite_code"]
    busy = service.delete(f"/organizations/{org['id']}", headers=alice)
    assert busy.status_code == 409 and busy.json()["error"] == "not_empty"  # it still holds the cluster

    deleted = service.delete(f"/clusters/{cluster['id']}", headers=alice)
    assert deleted.status_code == 200 and deleted.text == "true"
    assert service.get(f"/clusters/{cluster['id']}", headers=alice).status_code == 404
    deleted = service.delete(f"/organizations/{org['id']}", headers=alice)
    assert deleted.status_code == 200 and deleted.text == "true"
    assert service.get(f"/organizations/{org['id']}", headers=bob).status_code == 404


def test_the_services_refusals(service):
    alice, carol = _person(service, "alice"), _person(service, "carol")
    theirs = service.post("/organizations", json={"name": "theirs"}, headers=carol).json()
    wrong = service.post("/token", data={"username": "alice", "password": "not the password"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "unauthorized"
    taken = service.post("/register", json={"username": "alice", "email": "x@example.org", "password": "long enough!"})
    assert taken.status_code == 409 and taken.json()["field"] == "username"
    bad = service.post("/clusters/", json={"name": "c", "total_ram": -1, "total_cpu": 1,
                                           "organization_id": theirs["id"]}, headers=carol)
    assert bad.status_code == 422 and bad.json()["field"] == "total_ram"
    across = service.post("/clusters/", json={"name": "c", "total_ram": 1, "total_cpu": 1,
                                              "organization_id": theirs["id"]}, headers=alice)
    assert across.status_code == 404 and across.json()["field"] == "organization_id"
    assert service.get(f"/organizations/{theirs['id']}", headers=alice).status_code == 404
    assert service.get("/clusters/", headers=carol).json() == []  # nothing was written
    assert service.get("/clusters/").status_code == 401
