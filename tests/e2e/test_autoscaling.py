"""Node pools on a real controller: jobs no node can hold start agents that join and run
them; idle nodes are drained and stopped after the cool-down; every decision an event
with its reason. The ``local`` provider's agents are this machine's processes; the
``command`` provider runs a real shell script that starts one (no mock); the ``docker``
provider's are containers of the suite's own engine, and the job runs inside one."""
import json
import os
import re

import pytest

from tests.control.pools.agent_scripts import stop_leftovers, write_scripts
from tests.live import alive, wait_for

pytestmark = pytest.mark.slow

CPUS = sorted(os.sched_getaffinity(0))[:2]


def pool_events(cluster, pool: str) -> list[dict]:
    return [e for e in cluster.every_event() if e["actor"] == "autoscaler" and f"pool {pool}" in e["detail"]
            or e["action"] in ("node_drain", "node_removed") and (e["node"] or "").startswith(f"{pool}-")]


def retired(cluster, node: str) -> bool:
    return any(e["action"] == "node_retired" and e["node"] == node for e in cluster.every_event())


def wait_retired(cluster, node: str) -> None:
    """Until the pool retired ``node``; on a time-out the event log goes into the failure's output."""
    try:
        wait_for(lambda: retired(cluster, node), 90, what=f"{node} to be retired")
    except AssertionError:
        for e in cluster.every_event():
            print(f"{e['ts']:.2f} {e['action']} node={e['node']} job={e['job']} {e['detail'][:200]}")
        raise


def test_local_pool_grows_for_waiting_jobs_and_shrinks_when_they_are_done(live, tmp_path):
    spec = {"name": "burst", "provider": "local", "min_nodes": 0, "max_nodes": 2, "node_cores": 1,
            "cpus": CPUS, "SCALE_IN_COOLDOWN": 1.5, "workdir": str(tmp_path / "pool")}
    cluster = live(pools=json.dumps([spec]), autoscale_interval=0.3)
    cluster.start_controller()
    assert cluster.http.get("/api/v1/nodes").json() == []
    jobs = [cluster.submit(["sleep", "1"], cores=1) for _ in range(len(CPUS))]

    done = [cluster.wait_state(j["id"], "succeeded", timeout=60) for j in jobs]
    assert {j["node"] for j in done} <= {f"burst-{i}" for i in range(1, 3)}
    started = [e for e in pool_events(cluster, "burst") if e["action"] == "scale_out"]
    assert started and all(re.search(r"jobs? [\d, ]+ waits? for \d cores? that no node of the pool has free",
                                     e["detail"]) for e in started), started
    pids = [int(re.search(r"agent pid (\d+)", e["detail"]).group(1)) for e in started]
    assert len(pids) == len({e["node"] for e in started}) <= 2

    for event in started:
        wait_retired(cluster, event["node"])
    actions = [(e["action"], e["node"]) for e in pool_events(cluster, "burst")]
    for event in started:
        node = event["node"]
        assert actions.index(("scale_in", node)) < actions.index(("node_retired", node))
        assert ("node_drain", node) in actions and ("node_removed", node) in actions
    scale_in = [e for e in pool_events(cluster, "burst") if e["action"] == "scale_in"]
    assert all("cool-down 1.5s" in e["detail"] for e in scale_in)
    assert not any(alive(pid) for pid in pids)
    assert cluster.http.get("/api/v1/nodes").json() == []


@pytest.fixture
def scripts(tmp_path):
    root = tmp_path / "cloud"
    yield root, write_scripts(root, len(CPUS))
    stop_leftovers(root)


def test_command_pool_runs_the_operators_scripts(live, scripts):
    root, paths = scripts
    spec = {"name": "cloud", "provider": "command", "min_nodes": 1, "max_nodes": 2, "node_cores": 1,
            "SCALE_IN_COOLDOWN": 1.0, "create": [paths["create"]], "delete": [paths["delete"]]}
    cluster = live(pools=json.dumps([spec]), autoscale_interval=0.3)
    cluster.start_controller()
    wait_for(lambda: (cluster.node("cloud-1") or {}).get("state") == "up", 40, what="the minimum's node to join")
    [floor] = [e for e in pool_events(cluster, "cloud") if e["action"] == "scale_min"]
    assert "the minimum is 1" in floor["detail"] and "create printed 'pid-" in floor["detail"]

    # cloud-1 is held until the test ends the long job, so the short one can only run on a node the pool adds.
    long = cluster.submit(["sleep", "120"], cores=1)
    cluster.wait_state(long["id"], "running", timeout=30)
    short = cluster.submit(["sleep", "1"], cores=1)
    second = cluster.wait_state(short["id"], "succeeded", timeout=60)
    assert second["node"] == "cloud-2"
    assert not retired(cluster, "cloud-2")  # with cloud-1 busy the rest would be 100%: above both thresholds
    assert cluster.http.post(f"/api/v1/jobs/{long['id']}/cancel").status_code == 200
    # Now both are idle: one goes (the longer idle, or cloud-2 when they are equal), the minimum's one stays.
    gone = wait_for(lambda: next((n for n in ("cloud-1", "cloud-2") if retired(cluster, n)), None), 90,
                    what="a node to be retired")
    kept = {"cloud-1", "cloud-2"} - {gone}
    deleted = (root / "deleted").read_text().split()
    assert deleted[0] == gone and deleted[1].startswith("pid-")
    assert not (root / f"{gone}.pid").exists()
    assert (cluster.node(*kept) or {}).get("state") == "up" and not retired(cluster, *kept)


# What PID 1 of the job's PID namespace is (the container's init, not this machine's) and its CPUs.
WHERE_AM_I = ["sh", "-c", "tr '\\0' ' ' </proc/1/cmdline; echo; grep Cpus_allowed_list /proc/self/status"]


def test_docker_pool_runs_a_waiting_job_in_a_container_node_and_removes_it_when_idle(live, tmp_path, docker_engine,
                                                                                     agent_image):
    cpu = CPUS[-1]
    spec = {"name": "boxes", "provider": "docker", "docker_host": docker_engine.host, "image": agent_image,
            "min_nodes": 0, "max_nodes": 1, "node_cores": 1, "cpus": [cpu], "SCALE_IN_COOLDOWN": 3,
            "workdir": str(tmp_path / "pool")}
    cluster = live(pools=json.dumps([spec]), autoscale_interval=0.3)
    cluster.start_controller()
    assert cluster.http.get("/api/v1/nodes").json() == []
    job = cluster.submit(WHERE_AM_I, cores=1)

    done = cluster.wait_state(job["id"], "succeeded", timeout=60)
    assert done["node"] == "boxes-1"
    out = cluster.http.get(f"/api/v1/jobs/{job['id']}/logs").text
    assert "docker-init -- " in out and "heaven.launch agent --name boxes-1 " in out, out  # it ran in the box
    assert f"Cpus_allowed_list:\t{cpu}\n" in out
    [started] = [e for e in pool_events(cluster, "boxes") if e["action"] == "scale_out"]
    assert started["node"] == "boxes-1" and f"on CPUs {cpu}" in started["detail"]
    short_id = re.search(r"container ([0-9a-f]{12})", started["detail"]).group(1)
    [box] = docker_engine.client.containers.list(filters={"label": "heaven.node=boxes-1"})
    assert box.short_id == short_id and box.attrs["HostConfig"]["CpusetCpus"] == str(cpu)

    wait_retired(cluster, "boxes-1")
    actions = [(e["action"], e["node"]) for e in pool_events(cluster, "boxes")]
    assert actions.index(("scale_in", "boxes-1")) < actions.index(("node_retired", "boxes-1"))
    assert not docker_engine.client.containers.list(all=True, filters={"label": "heaven.node=boxes-1"})
    assert cluster.http.get("/api/v1/nodes").json() == []
