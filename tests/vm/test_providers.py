"""One contract for every vCPU provider: qemu for real (a booted guest), libvirt and VirtualBox
against recording stand-ins (fake ``virsh`` / ``VBoxManage`` on PATH that record their argv,
since neither can run on this machine), plus the exact commands those two run."""
from __future__ import annotations

import json
import os
import shutil
import stat
import sys
from pathlib import Path

import pytest

from heaven.vm.guest import boot_files
from heaven.vm.providers import HotplugError, LibvirtHotplug, QemuHotplug, VirtualBoxHotplug
from heaven.vm.qemu import Guest, GuestSpec
from tests.live import wait_for

MAX_VCPUS = 3

# A stand-in that behaves like the real tool as far as these providers use it: it keeps the
# VM's vCPUs in a state file, refuses what the real tool refuses, and records every argv.
STAND_IN = r'''#!{python}
import json, os, sys
state_path, record = os.environ["STAND_IN_STATE"], os.environ["STAND_IN_RECORD"]
with open(record, "a") as fh:
    fh.write(json.dumps([os.path.basename(sys.argv[0]), *sys.argv[1:]]) + "\n")
state = json.load(open(state_path))
args = sys.argv[1:]
def done(out=""):
    json.dump(state, open(state_path, "w")); print(out); sys.exit(0)
def fail(message):
    print(message, file=sys.stderr); sys.exit(1)
if os.path.basename(sys.argv[0]) == "virsh":
    if args[:1] == ["vcpucount"] and args[1] == state["vm"]:
        done(str(len(state["cpus"])))
    if args[:1] == ["setvcpus"] and args[1] == state["vm"] and args[3:] == ["--live"]:
        n = int(args[2])
        if not 1 <= n <= state["max"]:
            fail(f"error: invalid argument: requested vcpus is greater than max allowable vcpus")
        state["cpus"] = list(range(n)); done()
else:  # VBoxManage
    if args[:2] == ["controlvm", state["vm"]] and args[2] in ("plugcpu", "unplugcpu"):
        cpu = int(args[3])
        if args[2] == "plugcpu" and cpu not in state["cpus"] and cpu < state["max"]:
            state["cpus"].append(cpu); done()
        if args[2] == "unplugcpu" and cpu in state["cpus"] and cpu != 0:
            state["cpus"].remove(cpu); done()
        fail(f"VBoxManage: error: CPU {cpu} cannot be {args[2][:-3]}ged")
fail("stand-in: unexpected command " + " ".join(args))
'''


@pytest.fixture
def stand_ins(tmp_path, monkeypatch):
    """Fake virsh and VBoxManage first on PATH; returns the list of argv they recorded."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("virsh", "VBoxManage"):
        path = bin_dir / tool
        path.write_text(STAND_IN.replace("{python}", sys.executable))
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    state, record = tmp_path / "state.json", tmp_path / "record.jsonl"
    state.write_text(json.dumps({"vm": "vm1", "cpus": [0], "max": MAX_VCPUS}))
    record.touch()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("STAND_IN_STATE", str(state))
    monkeypatch.setenv("STAND_IN_RECORD", str(record))
    return lambda: [json.loads(line) for line in record.read_text().splitlines()]


@pytest.fixture(scope="module")
def qemu_guest(tmp_path_factory):
    """A real guest that boots and idles (its kernel ejects unplugged vCPUs), stopped at the end."""
    if shutil.which("qemu-system-x86_64") is None:
        pytest.skip("make vm-deps installs QEMU")
    work = tmp_path_factory.mktemp("guest")
    (work / "guest-run.sh").write_text("sleep 600\n")
    guest = Guest(GuestSpec(work, max_vcpus=MAX_VCPUS), boot_files())
    try:
        wait_for(lambda: "heaven-guest-ready" in (work / "guest.console").read_text(errors="replace")
                 if (work / "guest.console").exists() else False, 150, interval=0.2, what="the guest to boot")
        yield guest
    finally:
        guest.stop()


@pytest.fixture(params=["qemu", "libvirt", "virtualbox"])
def provider(request):
    if request.param == "qemu":
        return QemuHotplug(request.getfixturevalue("qemu_guest").qmp())
    request.getfixturevalue("stand_ins")
    return LibvirtHotplug("vm1") if request.param == "libvirt" else VirtualBoxHotplug("vm1", max_vcpus=MAX_VCPUS)


@pytest.mark.vm
def test_contract_plug_unplug_and_refusals(provider):
    assert provider.vcpus() == [0]
    first = provider.plug()
    assert first == 1 and provider.vcpus() == [0, 1]
    second = provider.plug()
    assert second == 2 and provider.vcpus() == [0, 1, 2]
    with pytest.raises(HotplugError):
        provider.plug()  # every slot in use
    provider.unplug(2)
    assert provider.vcpus() == [0, 1]
    with pytest.raises(HotplugError):
        provider.unplug(2)  # not plugged any more
    provider.unplug(1)
    assert provider.vcpus() == [0]
    # No re-plug here: QEMU under TCG allows only maxcpus vCPU creations over a guest's life
    # (then aborts); the e2e test re-plugs a freed slot within that budget.


def test_libvirt_runs_virsh_setvcpus_live(stand_ins):
    libvirt = LibvirtHotplug("vm1")
    assert libvirt.plug() == 1
    libvirt.unplug(1)
    assert stand_ins() == [
        ["virsh", "vcpucount", "vm1", "--live", "--active"], ["virsh", "setvcpus", "vm1", "2", "--live"],
        ["virsh", "vcpucount", "vm1", "--live", "--active"], ["virsh", "setvcpus", "vm1", "1", "--live"],
    ]


def test_libvirt_removes_only_the_last_vcpu(stand_ins):
    libvirt = LibvirtHotplug("vm1")
    libvirt.plug(), libvirt.plug()
    with pytest.raises(HotplugError, match="only the last"):
        libvirt.unplug(1)


def test_virtualbox_runs_controlvm_plugcpu_and_unplugcpu(stand_ins):
    vbox = VirtualBoxHotplug("vm1", max_vcpus=MAX_VCPUS)
    assert vbox.plug() == 1
    vbox.unplug(1)
    assert stand_ins() == [["VBoxManage", "controlvm", "vm1", "plugcpu", "1"],
                           ["VBoxManage", "controlvm", "vm1", "unplugcpu", "1"]]


def test_a_failing_tool_is_a_hotplug_error_with_its_message(stand_ins):
    with pytest.raises(HotplugError, match="unexpected command"):
        LibvirtHotplug("other-vm").vcpus()
