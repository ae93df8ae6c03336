"""CPU hot-plug inside a guest, on a sysfs-shaped tree: what is brought online and what is not.
(The real sysfs is driven by tests/e2e/test_vm_hotplug.py inside a QEMU guest.)"""
from __future__ import annotations

import os

from heaven.agent.hotplug import CpuHotplug


def _tree(root, online: str, cpus: dict[int, str | None]):
    (root / "online").write_text(online + "\n")
    for cpu, state in cpus.items():
        (root / f"cpu{cpu}").mkdir()
        if state is not None:  # cpu0 usually has no online switch
            (root / f"cpu{cpu}" / "online").write_text(state)
    return CpuHotplug(root)


def test_plugged_offline_cpus_are_switched_on_except_those_leaving(tmp_path):
    hotplug = _tree(tmp_path, "0", {0: None, 1: "0", 2: "0"})
    hotplug.leaving.add(2)
    assert hotplug.bring_online() == [1]
    assert (tmp_path / "cpu1" / "online").read_text() == "1"
    assert (tmp_path / "cpu2" / "online").read_text() == "0"


def test_a_leaving_cpu_that_was_unplugged_may_come_back(tmp_path):
    hotplug = _tree(tmp_path, "0", {0: None})
    hotplug.leaving.add(1)
    hotplug.bring_online()
    assert hotplug.leaving == set()  # gone from sysfs: a new cpu1 is a new vCPU


def test_usable_is_online_in_our_affinity_and_not_leaving(tmp_path):
    mine = sorted(os.sched_getaffinity(0))
    hotplug = _tree(tmp_path, f"{mine[0]}-{mine[-1]}", {c: "1" for c in mine})
    assert hotplug.usable() == mine
    hotplug.leaving.add(mine[-1])
    assert hotplug.usable() == mine[:-1]
