"""mounts.py: parsing and detection from recorded /proc text of machines we do not have."""
from pathlib import Path

from heaven.agent.mounts import Layout, parse_mountinfo, parse_proc_cgroup

V1_MOUNTINFO = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 /docker/abc /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
V1_SELF = """\
4:memory:/docker/abc/agent
3:cpuset:/
0::/
"""


def test_mountinfo_keeps_only_cgroup_mounts():
    mounts = parse_mountinfo(V1_MOUNTINFO)
    assert [(str(m.point), m.fstype) for m in mounts] == [
        ("/sys/fs/cgroup/cpuset", "cgroup"), ("/sys/fs/cgroup/memory", "cgroup"), ("/sys/fs/cgroup/unified", "cgroup2")]
    assert "cpuset" in mounts[0].options and mounts[1].root == "/docker/abc"


def test_proc_cgroup_maps_each_controller():
    assert parse_proc_cgroup("5:cpu,cpuacct:/a\n0::/b\n") == {"cpu": "/a", "cpuacct": "/a", "": "/b"}


def test_v1_layout_nests_under_our_own_group_as_the_mount_shows_it():
    layout = Layout.detect(V1_MOUNTINFO, V1_SELF)
    assert layout.version == 1
    assert layout.cpuset == Path("/sys/fs/cgroup/cpuset")
    # The memory mount shows /docker/abc as its top, so our /docker/abc/agent is at <mount>/agent.
    assert layout.memory == Path("/sys/fs/cgroup/memory/agent")


def test_v2_layout_needs_cpuset_among_the_controllers(tmp_path):
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    mountinfo = f"41 31 0:38 / {tmp_path} rw,relatime - cgroup2 cgroup2 rw\n"
    assert Layout.detect(mountinfo, "0::/\n") is None
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu memory pids\n")
    assert Layout.detect(mountinfo, "0::/\n") == Layout(2, tmp_path, tmp_path)
