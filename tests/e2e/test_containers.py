"""A container job through a real controller and a real agent on a real Docker engine (the
suite's own dockerd): pinned to its cores, its idle core stolen live and given back (same PID,
Cpus_allowed_list of the container's process changing), its logs and exit code reported
through the API; an image the node does not have fails with that reason; an agent killed
with -9 finds its containers again by their labels and reports their real exit codes."""
import signal
from pathlib import Path

import pytest

from tests.docker_engine import BUSYBOX_IMAGE
from tests.e2e.test_core_stealing import STEAL
from tests.live import alive, cpus_allowed, wait_for

pytestmark = pytest.mark.slow

# Idles until /tmp/busy exists in its own filesystem, then keeps its cores busy until /tmp/done
# does, and exits 7. Four spinners, not two: on a machine others load too, the shrunk job must
# still fill its one core for its give-back (tests/e2e/test_core_stealing.py has the same need).
SPIN = "(while [ ! -e /tmp/done ]; do :; done) & "
IDLE_THEN_BUSY = ["sh", "-c", "echo hello from the container; while [ ! -e /tmp/busy ]; do sleep 0.1; done; "
                              f"{SPIN * 4}wait; echo bye >&2; exit 7"]


def test_a_container_job_is_pinned_shrunk_and_grown_live_and_reports_its_end(live, docker_engine):
    cluster = live(**STEAL)
    cluster.env.update(docker_engine.env())
    cluster.start_controller()
    cluster.start_agent("n1", "0-1", "affinity")
    a = cluster.submit(IDLE_THEN_BUSY, cores=2, min_cores=1, name="boxed", docker_image=BUSYBOX_IMAGE)
    a_pid = cluster.wait_pid(a["id"])["pid"]
    boxed = docker_engine.client.containers.list(filters={"label": f"heaven.job={a['id']}"})
    assert [c.attrs["State"]["Pid"] for c in boxed] == [a_pid]  # the job's PID is the container's
    assert boxed[0].attrs["HostConfig"]["CpusetCpus"] == "0,1" and cpus_allowed(a_pid) == "0-1"
    assert Path(f"/proc/{a_pid}/root/bin/busybox").exists()  # it sees the image's filesystem, not ours

    b = cluster.submit(["sleep", "60"], cores=1, name="waiter")
    b_running = cluster.wait_pid(b["id"], timeout=20)  # after A idled through the warm-up
    a_now = cluster.job(a["id"])
    assert a_now["pid"] == a_pid and len(a_now["local_cores"]) == 1
    wait_for(lambda: cpus_allowed(a_pid) == str(a_now["local_cores"][0]), what="the container's cpuset to shrink")
    assert set(a_now["local_cores"]) | set(b_running["local_cores"]) == {0, 1}

    Path(f"/proc/{a_pid}/root/tmp/busy").touch()
    wait_for(lambda: cpus_allowed(a_pid) == "0-1", 20, what="the container to get its core back")
    assert cluster.job(a["id"])["pid"] == a_pid
    wait_for(lambda: not alive(b_running["pid"]), 10, what="the waiter to be stopped")
    assert cluster.actions(a["id"])[:5] == ["submit", "assign", "start", "shrink", "grow"]

    Path(f"/proc/{a_pid}/root/tmp/done").touch()
    ended = cluster.wait_state(a["id"], "failed")
    assert ended["exit_code"] == 7
    assert cluster.http.get(f"/api/v1/jobs/{a['id']}/logs").text == "hello from the container\n"
    assert cluster.http.get(f"/api/v1/jobs/{a['id']}/logs", params={"stream": "stderr"}).text == "bye\n"
    wait_for(lambda: not docker_engine.client.containers.list(all=True, filters={"label": f"heaven.job={a['id']}"}),
             what="the container to be removed")

    missing = cluster.submit(["true"], name="absent", docker_image="heaven-test/absent:1")
    failed = cluster.wait_state(missing["id"], "failed")
    assert "heaven-test/absent:1 is not on this node; images are never pulled" in failed["reason"]
    cluster.http.post(f"/api/v1/jobs/{b['id']}/cancel")


def test_a_restarted_agent_re_adopts_its_containers_and_reports_their_codes(live, tmp_path, docker_engine):
    cluster = live()
    cluster.env.update(docker_engine.env())
    cluster.start_controller()
    cluster.start_agent("n1", "0-1", "affinity")
    waits = cluster.submit(["sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.05; done; exit 3"],
                           docker_image=BUSYBOX_IMAGE)
    ends = cluster.submit(["sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.05; done; exit 4"],
                          docker_image=BUSYBOX_IMAGE)
    waits_pid, ends_pid = cluster.wait_pid(waits["id"])["pid"], cluster.wait_pid(ends["id"])["pid"]

    cluster.agents["n1"].send_signal(signal.SIGKILL)
    cluster.agents["n1"].wait()
    assert alive(waits_pid) and alive(ends_pid), "kill -9 of the agent must not touch its containers"
    Path(f"/proc/{ends_pid}/root/tmp/go").touch()  # one ends while no agent runs
    wait_for(lambda: not alive(ends_pid), what="the container to end while its agent is away")
    cluster.start_agent("n1", "0-1", "affinity")
    wait_for(lambda: "recovered 1 running job(s) and 1 exit(s)" in (tmp_path / "agent-n1.log").read_text(),
             what="the re-adoption")

    assert cluster.wait_state(ends["id"], "failed")["exit_code"] == 4, "the engine's code, kept while away"
    again = cluster.job(waits["id"])
    assert again["state"] == "running" and again["pid"] == waits_pid and alive(waits_pid)
    Path(f"/proc/{waits_pid}/root/tmp/go").touch()
    assert cluster.wait_state(waits["id"], "failed")["exit_code"] == 3, "reported by the new agent"
    assert cluster.actions(waits["id"]).count("start") == 1
