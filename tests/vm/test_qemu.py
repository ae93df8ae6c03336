"""The guest's command line keeps traffic on this machine; a guest never outlives its owner."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from heaven.vm.guest import BootFiles
from heaven.vm.qemu import Forward, GuestSpec, command_line
from tests.live import wait_for

ROOT = Path(__file__).resolve().parents[2]


def test_user_networking_is_restricted_and_forwards_end_on_loopback(tmp_path):
    spec = GuestSpec(tmp_path, forwards=[Forward(4100, 8000)], controller=(8000, 4200))
    argv = command_line(spec, BootFiles(Path("k"), Path("i")), tmp_path / "q", tmp_path / "c")
    net = argv[argv.index("-netdev") + 1].split(",")
    assert net[:3] == ["user", "id=n0", "restrict=on"]
    assert "hostfwd=tcp:127.0.0.1:4100-:8000" in net
    guestfwd = [n for n in net if n.startswith("guestfwd=")]
    assert len(guestfwd) == 1 and guestfwd[0].endswith(" nc 127.0.0.1 4200")
    assert all(n.startswith(("user", "id=", "restrict=", "hostfwd=tcp:127.0.0.1:", "guestfwd=")) for n in net)
    assert "-nodefaults" in argv and argv[argv.index("-accel") + 1] == "tcg"


OWNER = """
import os, sys
from pathlib import Path
from heaven.vm.guest import boot_files
from heaven.vm.qemu import Guest, GuestSpec
work = Path(sys.argv[1]); (work / "guest-run.sh").write_text("sleep 600\\n")
guest = Guest(GuestSpec(work), boot_files())
print(guest.process.pid, flush=True)
guest.qmp()  # QEMU is up
os.kill(os.getpid(), 9)  # no finally runs
"""


@pytest.mark.vm
@pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None, reason="make vm-deps installs QEMU")
def test_a_guest_dies_with_the_process_that_started_it(tmp_path):
    owner = subprocess.run([sys.executable, "-c", OWNER, str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                           timeout=120)
    assert owner.returncode == -9, owner.stderr
    qemu = int(owner.stdout.split()[0])

    def gone() -> bool:
        try:
            os.kill(qemu, 0)
        except ProcessLookupError:
            return True
        return open(f"/proc/{qemu}/stat").read().split(")")[-1].split()[0] == "Z"
    wait_for(gone, 10, what="QEMU to end with its owner")
