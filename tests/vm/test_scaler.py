"""The use the threshold loop reads off a node (the loop itself runs in tests/e2e/test_vm_hotplug.py)."""
import pytest

from heaven.core.vcpus import VcpuRules
from heaven.vm.scaler import VmScaler, node_use


def test_use_is_the_busy_share_of_the_cpus_the_controller_counts():
    # CPU 2 is busy but no longer the node's (being unplugged): it does not count.
    node = {"local_cores": [0, 1], "telemetry": {"per_core": [50.0, 100.0, 100.0]}}
    assert node_use(node) == pytest.approx(0.75)


def test_a_node_without_telemetry_yet_is_idle():
    assert node_use({"local_cores": [0], "telemetry": {}}) == 0.0
    assert node_use({"local_cores": [0, 3], "telemetry": {"per_core": [100.0]}}) == pytest.approx(0.5)


def test_rules_that_cannot_work_are_refused_before_the_loop_starts():
    with pytest.raises(ValueError, match="low < high"):
        VmScaler("vm1", provider=None, controller=None, agent=None, rules=VcpuRules(high=0.2, low=0.5))
