"""A real QEMU guest as a node: it joins, a job grows onto a hot-plugged vCPU, and the vCPU
is unplugged after load falls, with the job shrunk off it first. Nothing is lost.

The guest runs `heaven agent` from this machine's Python and source tree (heaven.vm.node);
its network is QEMU's user mode with restrict=on, forwards on 127.0.0.1 only. The guest
is stopped in a finally, so a failing test leaves no QEMU behind.
"""
from __future__ import annotations

import re
import shutil
import sys
import threading
from pathlib import Path

import httpx
import pytest

from heaven.core.vcpus import VcpuRules
from heaven.vm.guest import kernel_package
from heaven.vm.node import VmNode, VmNodeSpec
from heaven.vm.scaler import VmScaler
from tests.live import wait_for

JOB = Path(__file__).resolve().parents[1] / "vm" / "guest_job.py"

needs_qemu = pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None, reason="make vm-deps installs QEMU")


def _guest_cpus(work: Path, what: str = "cpus") -> str:
    path = work / f"job.{what}"
    return path.read_text() if path.exists() else ""


def _placement_mode(node: VmNode) -> str:
    """What the guest agent said it holds jobs with ("affinity", "cgroup-v2")."""
    found = re.search(r"registered vm1 at offset \d+ \(([\w-]+) mode\)", node.log())
    return found.group(1) if found else ""


@needs_qemu
@pytest.mark.slow
@pytest.mark.vm
def test_a_job_on_a_vm_node_grows_onto_a_plugged_vcpu_and_is_shrunk_before_the_unplug(live, tmp_path):
    kernel_package()  # a clear error if `make vm-deps` did not run
    cluster = live(steal_warmup=1)
    cluster.start_controller()
    work = tmp_path / "vm1"
    # The guest mounts cgroup v2 (this machine binds cpuset to v1): the agent's own choice
    # (auto) there is the v2 cpuset driver, on a real v2 hierarchy, with CPUs coming and going.
    node = VmNode(VmNodeSpec("vm1", cluster.port, cluster.join_token, work, max_vcpus=4, mode="auto", cgroup2=True))
    stop = threading.Event()
    scaler_thread = None
    try:
        node.start()
        wait_for(lambda: (n := cluster.node("vm1")) and n["state"] == "up", 150, interval=0.5,
                 what="the VM node to join")
        assert cluster.node("vm1")["local_cores"] == [0]

        # The node's second vCPU is plugged live: the agent onlines it and reports it.
        assert node.provider.plug() == 1
        wait_for(lambda: cluster.node("vm1")["local_cores"] == [0, 1], 30, what="CPU 1 counted by the controller")

        job = cluster.submit([sys.executable, str(JOB), str(work)], cores=2, min_cores=1)
        cluster.wait_pid(job["id"], timeout=60)
        wait_for(lambda: _guest_cpus(work) == "0-1", 30, what="the job on CPUs 0-1 inside the guest")
        assert _placement_mode(node) == "cgroup-v2", node.log()[-2000:]
        assert _guest_cpus(work, "cpuset") == "0-1"

        # Idle: the scaler unplugs CPU 1, the job shrunk off it first.
        # Marks wide apart: an idle guest under TCG shows 25-30% use (its agent, emulated)
        rules = VcpuRules(high=0.9, low=0.45, sustain=2.0, cooldown=3.0, min_vcpus=1, max_vcpus=2)
        with httpx.Client(base_url=cluster.url, headers=cluster.auth_headers(), timeout=30) as api, \
                node.agent_client() as agent:
            scaler = VmScaler("vm1", node.provider, api, agent, rules)
            scaler_thread = threading.Thread(target=scaler.run, args=(stop, 0.5), daemon=True)
            scaler_thread.start()
            wait_for(lambda: any(c.delta == -1 for c in scaler.history), 60, interval=0.2, what="an unplug")
            assert node.provider.vcpus() == [0]
            assert _guest_cpus(work) == "0"
            wait_for(lambda: _guest_cpus(work, "cpuset") == "0", 5, what="the job's cpuset shrunk")
            assert cluster.job(job["id"])["cores"] == [0] and cluster.job(job["id"])["state"] == "running"

            # Busy on one CPU: the scaler plugs one, and the job grows onto it (give-back).
            (work / "busy").touch()
            wait_for(lambda: any(c.delta == +1 for c in scaler.history), 90, interval=0.2, what="a plug")
            wait_for(lambda: _guest_cpus(work) == "0-1", 60, what="the job grown onto the plugged CPU")
            assert cluster.job(job["id"])["cores"] == [0, 1]
            wait_for(lambda: _guest_cpus(work, "cpuset") == "0-1", 5, what="the job's cpuset grown")
            (work / "busy").unlink()
            (work / "stop").touch()
            done = cluster.wait_state(job["id"], "succeeded", "failed", timeout=60)
            stop.set()
            scaler_thread.join(30)
        assert done["state"] == "succeeded" and done["exit_code"] == 0
        unplug = next(c for c in scaler.history if c.delta == -1)
        plug = next(c for c in scaler.history if c.delta == +1)
        assert "below 45%" in unplug.reason and "above 90%" in plug.reason
        events = cluster.events(node="vm1")
        capacity = [e for e in events if e["action"] == "capacity"]
        assert any(unplug.reason in e["detail"] and f"jobs [{job['id']}] shrunk" in e["detail"] for e in capacity)
        assert any(plug.reason in e["detail"] for e in capacity)
        job_actions = cluster.actions(job["id"])
        assert "shrink" in job_actions and "grow" in job_actions
        assert job_actions.index("shrink") < job_actions.index("grow")
    finally:
        stop.set()
        if scaler_thread is not None:
            scaler_thread.join(30)
        node.stop()
    assert node.guest.process.poll() is not None  # no QEMU left behind
