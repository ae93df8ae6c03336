"""The deployment service's own API at the root (/deployments/), over real HTTP against a
real controller process (on SQLite and PostgreSQL), the way a client written for that service uses it: sign in with
the form flow, create deployments with dependencies in a cluster that has no nodes (that
service kept books only), start, stop and cancel them, the 400s it answered, and deletes
answering ``true``. People and organizations are made through /api/v1 until the root
/register, /token and /organizations/ land (another part of the same issue)."""
from __future__ import annotations

import pytest

from tests.e2e.tenants import add_cluster, organization, person
from tests.live import LiveCluster

pytestmark = pytest.mark.slow
KEYS = {"name", "docker_image", "required_ram", "required_cpu", "required_gpu", "priority", "cluster_id",
        "dependency_ids", "id", "status", "user_id", "created_at", "started_at", "dependencies", "dependents"}


def test_a_client_of_the_deployment_service(tmp_path, store_url):
    live = LiveCluster(tmp_path, database_url=store_url)
    try:
        live.start_controller()
        http = live.http
        dana, eve = person(live, "dana"), person(live, "eve")
        org = organization(live, dana, "models")
        organization(live, eve, "rivals")
        cluster_id = add_cluster(live, org, "inference", cores=4, memory_mb=8 * 1024, gpus=1)

        def make(name: str, priority: int = 2, cpu: int = 1, deps=(), expect: int = 200, path="/deployments/", ram=2):
            answer = http.post(path, headers=dana, json={
                "name": name, "docker_image": "registry.local/model:1", "required_ram": ram, "required_cpu": cpu,
                "required_gpu": 0, "priority": priority, "cluster_id": cluster_id, "dependency_ids": list(deps)})
            assert answer.status_code == expect, answer.text
            return answer.json()

        def act(deployment: dict, action: str, expect: int = 200, **params) -> dict:
            answer = http.post(f"/deployments/{deployment['id']}/{action}", headers=dana, params=params)
            assert answer.status_code == expect, answer.text
            return answer.json()

        base = make("base", priority=3)
        assert set(base) == KEYS
        assert (base["status"], base["priority"], base["required_ram"], base["started_at"]) == ("pending", 3, 2, None)
        assert base["user_id"] is not None and base["cluster_id"] == cluster_id
        api = make("api", priority=2, deps=[base["id"]], path="/deployments")  # without the trailing slash
        assert api["dependencies"] == [{"id": base["id"], "name": "base", "status": "pending"}]
        # a high-priority deployment may not wait for a pending one of lower priority
        refused = make("urgent", priority=3, deps=[api["id"]], expect=400)
        assert refused["field"] == "dependency_ids"
        worker = make("worker", priority=1, deps=[api["id"]])

        # start: 400 until every dependency completed; started ones are "running" in the books
        assert act(api, "start", expect=400)["field"] == "dependency_ids"
        started = act(base, "start")
        assert started["status"] == "running" and started["started_at"] is not None
        assert act(base, "start", expect=400)["field"] == "id"  # not pending any more
        assert act(base, "cancel", expect=400)["field"] == "id"  # cancel: only pending ones
        # the product API tells the truth: no node runs it
        product = http.get(f"/api/v1/deployments/{base['id']}", headers=dana).json()
        assert (product["status"], product["node"], product["started"]) == ("pending", None, True)

        # the quota (4 cores) is booked by started deployments: 1 held, 3 more fit, 4 do not
        big = make("big", cpu=4)
        assert act(big, "start", expect=400)["field"] == "required_cpu"
        heavy = make("heavy", ram=8)  # 2 of the 8 GB are booked: the refusal counts in this API's GB
        refused = act(heavy, "start", expect=400)
        assert refused["field"] == "required_ram"
        assert refused["message"] == f"required_ram: cluster inference has 6 of its 8 GB of RAM free; " \
                                     f"deployment {heavy['id']} asks 8"

        # stop completes it and, before answering, starts the dependent that is now ready
        stopped = act(base, "stop")
        assert stopped["status"] == "completed"
        assert stopped["dependents"] == [{"id": api["id"], "name": "api", "status": "running"}]
        assert http.get(f"/deployments/{api['id']}", headers=dana).json()["status"] == "running"
        assert [d["id"] for d in http.get(f"/deployments/{api['id']}/dependents", headers=dana).json()] == [worker["id"]]
        assert [d["name"] for d in http.get(f"/deployments/{api['id']}/dependencies", headers=dana).json()] == ["base"]
        failed = act(api, "stop", status="failed")
        assert failed["status"] == "failed"
        assert http.get(f"/deployments/{worker['id']}", headers=dana).json()["status"] == "pending"  # api failed
        assert act(worker, "cancel")["status"] == "cancelled"
        assert act(worker, "stop", expect=400)["field"] == "id"

        # updates: a pending one changes; itself or a cycle as a dependency is refused
        first, second = make("first"), make("second")
        changed = http.put(f"/deployments/{second['id']}", headers=dana,
                           json={"dependency_ids": [first["id"]], "required_cpu": 2, "name": "second-b"})
        assert changed.status_code == 200, changed.text
        assert (changed.json()["required_cpu"], changed.json()["name"]) == (2, "second-b")
        assert changed.json()["dependency_ids"] == [first["id"]]
        own = http.put(f"/deployments/{first['id']}", headers=dana, json={"dependency_ids": [first["id"]]})
        assert own.status_code == 400 and own.json()["field"] == "dependency_ids"
        loop = http.put(f"/deployments/{first['id']}", headers=dana, json={"dependency_ids": [second["id"]]})
        assert loop.status_code == 400 and loop.json()["error"] == "circular_dependency"

        # another organization's person sees nothing of it
        assert http.get(f"/deployments/{first['id']}", headers=eve).status_code == 404
        assert http.post(f"/deployments/{first['id']}/start", headers=eve).status_code == 404
        assert http.get("/deployments/", headers=eve).json() == []
        theirs = http.post("/deployments/", headers=eve, json={
            "name": "x", "docker_image": "x", "required_cpu": 1, "priority": 1, "cluster_id": cluster_id})
        assert theirs.status_code == 404 and theirs.json()["field"] == "cluster_id"
        assert http.get("/deployments", headers={"Authorization": ""}).status_code == 401

        # deletes answer true, dependencies last
        listed = {d["name"] for d in http.get("/deployments", headers=dana).json()}
        assert listed == {"base", "api", "worker", "big", "heavy", "first", "second-b"}
        assert http.delete(f"/deployments/{first['id']}", headers=dana).status_code == 400  # second waits for it
        for d in (second, first, worker, api, base, big, heavy):
            answer = http.delete(f"/deployments/{d['id']}", headers=dana)
            assert answer.status_code == 200 and answer.content == b"true", answer.text
        assert http.get(f"/deployments/{base['id']}", headers=dana).status_code == 404
        assert http.get("/deployments/", headers=dana).json() == []
    finally:
        live.stop()
