"""A node's cores changing live (vCPU hot-plug): the store, the shrink first, the refusals."""
from __future__ import annotations

from tests.live import wait_for


def _register(client, name: str, cores: list[int], max_cores: int | None = None, offset: int | None = None) -> dict:
    body = {"name": name, "local_cores": cores, "memory_mb": 1000, "max_cores": max_cores}
    if offset is not None:
        body["core_offset"] = offset
    answer = client.post("/api/v1/agents/register", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _node(client, name: str) -> dict:
    return client.get(f"/api/v1/nodes/{name}").json()


def _running(client, job_id: int, node: str) -> dict:
    job = wait_for(lambda: (j := client.get(f"/api/v1/jobs/{job_id}").json())["state"] == "assigned" and j,
                   what="placement")
    answer = client.post(f"/api/v1/agents/{node}/report", json={"started": [{"job": job_id, "run": 1, "pid": 4242}]})
    assert answer.status_code == 200
    return job


def test_a_vm_node_keeps_room_for_its_vcpus_and_grows_into_it(controller_app):
    client = controller_app(scheduler_interval=0.2)
    assert _register(client, "vm1", [0], max_cores=4)["core_offset"] == 0
    assert _register(client, "n2", [0, 1])["core_offset"] == 4  # after vm1's whole span
    grown = client.put("/api/v1/agents/vm1/cores", json={"local_cores": [0, 1, 2], "reason": "cpu 1, 2 plugged"})
    assert grown.status_code == 200, grown.text
    assert grown.json()["local_cores"] == [0, 1, 2]
    node = _node(client, "vm1")
    assert node["total_cores"] == 3 and node["free_cores"] == 3
    events = client.get("/api/v1/events", params={"node": "vm1"}).json()
    capacity = [e for e in events if e["action"] == "capacity"]
    assert len(capacity) == 1 and "cores 1 -> 3" in capacity[0]["detail"] and "cpu 1, 2 plugged" in capacity[0]["detail"]
    # A job wanting three cores now fits there.
    job = client.post("/api/v1/jobs", json={"command": ["sleep", "30"], "cores": 3}).json()
    placed = wait_for(lambda: (j := client.get(f"/api/v1/jobs/{job['id']}").json())["state"] == "assigned" and j,
                      what="placement on the new cores")
    assert placed["node"] == "vm1" and placed["cores"] == [0, 1, 2]


def test_a_cpu_leaves_only_after_its_job_is_shrunk_off_it(controller_app):
    client = controller_app(scheduler_interval=0.2)
    _register(client, "vm1", [0, 1], max_cores=4)
    job = client.post("/api/v1/jobs", json={"command": ["sleep", "30"], "cores": 2, "min_cores": 1}).json()
    _running(client, job["id"], "vm1")
    generation = client.get("/api/v1/agents/vm1/assignments").json()["generation"]
    answer = client.put("/api/v1/agents/vm1/cores", json={"local_cores": [0], "reason": "use 5% below 30%"})
    assert answer.status_code == 200, answer.text
    shown = client.get(f"/api/v1/jobs/{job['id']}").json()
    assert shown["state"] == "running" and shown["cores"] == [0]
    assignments = client.get("/api/v1/agents/vm1/assignments").json()
    assert assignments["generation"] > generation  # the agent is woken to rewrite the job's affinity
    assert [j["local_cores"] for j in assignments["jobs"]] == [[0]]
    actions = [(e["action"], e["job"]) for e in client.get("/api/v1/events", params={"node": "vm1"}).json()]
    assert actions.index(("shrink", job["id"])) < actions.index(("capacity", None))


def test_refusals_write_nothing(controller_app):
    client = controller_app(scheduler_interval=0.2)
    _register(client, "vm1", [0, 1, 2], max_cores=4)
    job = client.post("/api/v1/jobs", json={"command": ["sleep", "30"], "cores": 3}).json()  # min_cores 3
    _running(client, job["id"], "vm1")

    def refused(body, status, error):
        answer = client.put("/api/v1/agents/vm1/cores", json=body)
        assert answer.status_code == status, answer.text
        assert answer.json()["error"] == error and answer.json()["field"] == "local_cores"
        assert _node(client, "vm1")["local_cores"] == [0, 1, 2]
        assert client.get(f"/api/v1/jobs/{job['id']}").json()["cores"] == [0, 1, 2]
        return answer.json()["message"]

    assert "min_cores" in refused({"local_cores": [0, 1]}, 409, "cores_in_use")
    assert "at most 4" in refused({"local_cores": [0, 1, 2, 3, 4]}, 409, "beyond_max_cores")
    assert "CPU 1 is followed" in refused({"local_cores": [0, 2]}, 409, "not_last_cpu")
    refused({"local_cores": [0, 0, 1]}, 422, "invalid_input")
    refused({"local_cores": []}, 422, "invalid_input")


def test_a_node_without_max_cores_cannot_grow(controller_app):
    client = controller_app()
    _register(client, "n1", [0, 1])
    answer = client.put("/api/v1/agents/n1/cores", json={"local_cores": [0, 1, 2]})
    assert answer.status_code == 409 and answer.json()["error"] == "beyond_max_cores"
