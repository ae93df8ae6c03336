"""cgroups.py: each version's driver on a recorded hierarchy, then the real
v1/v2 cpuset hierarchy of this machine (skipped, with the reason, where it is
not writable). The CPU-list syntax shared with the affinity runtime is
property-tested here because cpuset.cpus is where it matters most.
"""
import os
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from heaven.agent.affinity import format_cpu_list, parse_cpu_list
from heaven.agent.cgroups import ScopeCgroups, join_and_pin
from heaven.agent.mounts import Layout, parse_mountinfo

CPUS = sorted(os.sched_getaffinity(0))
MIB = 1024 * 1024


def test_scope_names_cannot_escape_their_directory():
    layout = Layout(1, Path("/x"), None)
    assert ScopeCgroups(layout, "../node a/b").dirs() == [Path("/x/heaven/.._node_a_b")]


@given(st.sets(st.integers(min_value=0, max_value=300)))
def test_cpu_lists_round_trip(cores):
    text = format_cpu_list(cores)
    assert parse_cpu_list(text) == sorted(cores)
    assert " " not in text and (text == "" or text[0].isdigit())


def test_cpu_lists_use_ranges():
    assert format_cpu_list([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"
    assert parse_cpu_list("0-2,5,7-8\n") == [0, 1, 2, 5, 7, 8]


# -- each version's files, on a recorded hierarchy (whatever this machine mounts) --------------------

def _recorded(tmp_path, version: int, memory: bool) -> Layout:
    """A hierarchy of plain files: the levels and the job group exist, with the files the kernel would show."""
    cpuset = tmp_path / "cpuset" if version == 1 else tmp_path
    layout = Layout(version, cpuset, (tmp_path / "memory" if version == 1 else tmp_path) if memory else None)
    scope = ScopeCgroups(layout, "s")
    for d in scope.job(1).dirs:
        d.mkdir(parents=True)
        for name in ("cpuset.cpus", "cpuset.mems", "memory.limit_in_bytes", "memory.max", "cgroup.procs"):
            (d / name).touch()
    (cpuset / "heaven" / "s" / "cpuset.mems").write_text("0\n")
    return layout


@pytest.mark.parametrize("version, memory, limit_name", [
    (1, True, "memory.limit_in_bytes"), (1, False, None), (2, True, "memory.max"), (2, False, None),
])
def test_each_version_writes_its_own_files(tmp_path, version, memory, limit_name):
    job = ScopeCgroups(_recorded(tmp_path, version, memory), "s").job(1)
    job.create([0, 2, 3], memory_mb=32)
    assert (job.cpuset_dir / "cpuset.cpus").read_text() == "0,2-3"
    # v1 children start with empty memory nodes and refuse tasks until they are copied from the parent.
    assert (job.cpuset_dir / "cpuset.mems").read_text() == ("0" if version == 1 else "")
    limit = job.memory_limit_file()
    assert (limit and limit.name) == limit_name
    if limit_name is None:
        assert not any((d / name).read_text() for d in job.dirs for name in ("memory.limit_in_bytes", "memory.max"))
    else:
        assert limit.read_text() == str(32 * MIB)


@pytest.mark.parametrize("version, counter_file, text", [
    (1, "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n"),
    (2, "memory.events", "low 0\nhigh 0\nmax 9\noom 4\noom_kill 3\n"),
])
def test_each_version_reads_its_own_oom_counter(tmp_path, version, counter_file, text):
    job = ScopeCgroups(_recorded(tmp_path, version, True), "s").job(1)
    assert job.oom_kills() == 0, "no counter file yet: no kill counted"
    (job.memory_dir / counter_file).write_text(text)
    assert job.oom_kills() == 3


def test_without_cgroups_the_hook_pins_by_affinity_alone():
    # Affinity mode: no group to join, sched_setaffinity before exec, so the whole tree inherits it.
    proc = subprocess.Popen(["sleep", "30"], preexec_fn=join_and_pin([], {CPUS[-1]}))
    try:
        assert os.sched_getaffinity(proc.pid) == {CPUS[-1]}
    finally:
        proc.kill()
        proc.wait()


# -- the real hierarchy ----------------------------------------------------------

@pytest.fixture
def scope():
    layout = Layout.detect()
    if layout is None:
        pytest.skip("no cgroup hierarchy with a cpuset controller is mounted")
    scope = ScopeCgroups(layout, f"test-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        scope.prepare()
    except OSError as exc:
        scope.remove(timeout=0.2)
        pytest.skip(f"cpuset hierarchy {layout.cpuset} is not writable: {exc}")
    try:
        yield scope
    finally:
        assert scope.remove(timeout=2.0)
        assert not any(d.exists() for d in scope.dirs())


def test_a_memory_hierarchy_is_used_where_this_machine_has_one(scope):
    # The machine's own facts, read apart from Layout.detect: a v1 mount with the memory controller, or
    # memory among the controllers of the v2 root.
    mounts = parse_mountinfo(Path("/proc/self/mountinfo").read_text())
    if scope.layout.version == 1:
        has_memory = any(m.fstype == "cgroup" and "memory" in m.options for m in mounts)
    else:
        has_memory = "memory" in (scope.layout.cpuset / "cgroup.controllers").read_text().split()
    assert (scope.layout.memory is not None) == has_memory


def test_intermediate_levels_are_usable(scope):
    for d in scope.dirs():
        assert d.is_dir()
    cpuset_scope = scope.dirs()[0]
    if scope.layout.version == 1:
        # v1 children start empty; ours must carry the parent's CPUs and memory nodes.
        for name in ("cpuset.cpus", "cpuset.mems"):
            assert (cpuset_scope / name).read_text() == (cpuset_scope.parent.parent / name).read_text()
    else:
        assert "cpuset" in (cpuset_scope / "cgroup.subtree_control").read_text().split()


def test_job_group_is_configured_and_removed(scope):
    job = scope.job(7)
    job.create([CPUS[-1]], memory_mb=32)
    assert (job.cpuset_dir / "cpuset.cpus").read_text().strip() == str(CPUS[-1])
    limit = job.memory_limit_file()
    if scope.layout.memory is None:  # a cpuset-only layout: the job gets no group with a limit anywhere
        assert limit is None and job.dirs == [job.cpuset_dir]
    else:
        assert limit.name == ("memory.limit_in_bytes" if scope.layout.version == 1 else "memory.max")
        assert int(limit.read_text()) == 32 * MIB
    job.set_cpus(CPUS)
    assert parse_cpu_list((job.cpuset_dir / "cpuset.cpus").read_text()) == CPUS
    assert job.pids() == []
    assert job.remove()
    assert not any(d.exists() for d in job.dirs)


def test_a_failed_create_leaves_nothing(scope):
    job = scope.job(8)
    with pytest.raises(OSError):
        job.create([100000])  # no such CPU: the kernel refuses the cpuset
    assert not any(d.exists() for d in job.dirs)


def test_removal_waits_for_the_last_process(scope):
    job = scope.job(9)
    job.create(CPUS)
    proc = subprocess.Popen(["sleep", "30"])
    try:
        for procs_file in job.procs_files:
            Path(procs_file).write_text(str(proc.pid))
        assert job.pids() == [proc.pid]
        assert not job.remove(timeout=0.1), "a populated group cannot be removed"

        def kill_later():
            time.sleep(0.2)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        killer = threading.Thread(target=kill_later)
        killer.start()
        started = time.monotonic()
        assert job.remove(timeout=3.0), "removal retries until the group is empty"
        assert time.monotonic() - started >= 0.15
        killer.join()
    finally:
        proc.kill()
        proc.wait()
        job.remove(timeout=1.0)
