"""VM nodes: boot time of a QEMU guest running `heaven agent`, and vCPU hot-plug latency.

    .venv/bin/python bench/bench_vm.py [--cycles 5]

Measured under software emulation (TCG; this machine's /dev/kvm cannot run the guest):
1. boot: QEMU start -> the guest's init is ready; -> the guest agent answers on its
   forwarded port; -> the controller counts the node up;
2. plug: the scaler's decision -> the controller counts the new CPU (the provider's
   device_add, the agent onlining it through sysfs and reporting it);
3. unplug: the decision -> the vCPU is gone from the VM (the agent's release through the
   controller, the CPU offline, device_del until QEMU frees the slot).
Writes the vm section of docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine_md, md_table, write_section  # noqa: E402

from heaven.core.vcpus import VcpuChange, VcpuRules  # noqa: E402
from heaven.vm.node import VmNode, VmNodeSpec  # noqa: E402
from heaven.vm.scaler import VmScaler  # noqa: E402
from tests.live import LiveCluster, wait_for  # noqa: E402

COMMAND = ".venv/bin/python bench/bench_vm.py"


def ms(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values) * 1000:.0f} ms (min {min(values) * 1000:.0f}, max {max(values) * 1000:.0f})"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=5, help="plug/unplug cycles")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="heaven-bench-vm-") as tmp:
        tmp = Path(tmp)
        cluster = LiveCluster(tmp)
        node = VmNode(VmNodeSpec("vm1", 0, "", tmp / "vm1", max_vcpus=args.cycles + 2))
        try:
            cluster.start_controller()
            node.spec.controller_port, node.spec.join_token = cluster.port, cluster.join_token
            node.start()
            console = node.spec.work / "vm1.console"
            ready = wait_for(lambda: console.exists() and "heaven-guest-ready" in console.read_text(errors="replace")
                             and time.monotonic() - node.guest.started_at, 180, interval=0.05, what="the guest's init")
            answering = node.wait_for_agent(180)
            joined = wait_for(lambda: (n := cluster.node("vm1")) and n["state"] == "up"
                              and time.monotonic() - node.guest.started_at, 60, interval=0.05, what="the node up")
            plugs, unplugs = [], []
            with httpx.Client(base_url=cluster.url, headers=cluster.auth_headers(), timeout=60) as api, \
                    node.agent_client() as agent:
                scaler = VmScaler("vm1", node.provider, api, agent, VcpuRules(max_vcpus=args.cycles + 2))
                for i in range(args.cycles):
                    began = time.monotonic()
                    scaler.plug(VcpuChange(+1, f"benchmark cycle {i + 1}"), began)
                    plugs.append(time.monotonic() - began)
                    began = time.monotonic()
                    done = scaler.unplug(VcpuChange(-1, f"benchmark cycle {i + 1}"), scaler.read(), began)
                    if done.refused:
                        raise RuntimeError(done.refused)
                    unplugs.append(time.monotonic() - began)
                    print(f"cycle {i + 1}: plug {plugs[-1] * 1000:.0f} ms, unplug {unplugs[-1] * 1000:.0f} ms", flush=True)
        finally:
            node.stop()
            cluster.stop()
    load_after = os.getloadavg()[0]
    rows = [
        ["boot: QEMU start -> guest init ready", f"{ready:.1f} s"],
        ["boot: QEMU start -> guest agent answers", f"{answering:.1f} s"],
        ["boot: QEMU start -> controller counts the node up", f"{joined:.1f} s"],
        [f"plug: decision -> controller counts the CPU (median of {len(plugs)})", ms(plugs)],
        [f"unplug: decision -> vCPU gone from the VM (median of {len(unplugs)})", ms(unplugs)],
        ["load average (1 min) before / after", f"{load_before:.1f} / {load_after:.1f}"],
    ]
    for name, value in rows:
        print(f"{name:70s} {value}")
    md = "\n\n".join([
        "## VM nodes: guest boot and vCPU hot-plug (QEMU 10, TCG)",
        "One guest (`-m 256`, 1 vCPU booted, the rest hot-plugged) running `heaven agent` from this "
        "machine's Python, joined to a real controller. The machine is shared: the load average says how "
        "busy it was. No job runs on the plugged vCPU here (the e2e test covers the shrink before an unplug).",
        md_table(["", ""], rows),
        machine_md(COMMAND),
    ])
    path = write_section("vm", md)
    print(f"wrote the vm section of {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
