"""Per-job cgroups: a cpuset of the job's cores and a memory limit.

Layout: `<base>/heaven/<scope>/job-<id>` in the cpuset hierarchy and, when one
is writable, the memory hierarchy (`scope` is one agent, so several agents on
one machine, or a test run, never touch each other's groups). Where `<base>`
is comes from mounts.py; this module only writes groups.

Version quirks live in one driver per version (V1Driver, V2Driver), so neither
the scope/job groups here nor the executor ever branch on a version:
- v1 cpuset children start with EMPTY cpuset.cpus/cpuset.mems and refuse tasks
  until both are set; v1 parents do not follow CPU hot-plug.
- v2 needs `+cpuset`/`+memory` in `cgroup.subtree_control` of every parent.
- the limit file and the OOM counter have other names in each version.
rmdir fails with EBUSY while a dying task is still being torn down, so removal
retries briefly.
"""
from __future__ import annotations

import errno
import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from heaven.agent.affinity import format_cpu_list
from heaven.agent.mounts import Layout

log = logging.getLogger(__name__)

MIB = 1024 * 1024


def _read(path: Path) -> str:
    return path.read_text().strip()


def _write(path: Path, value: str) -> None:
    # One write() per value: cgroup files act on each write call, and
    # Path.write_text could split a long value.
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


class Driver:
    """What differs between cgroup versions, so nothing above this module branches on one."""
    version = 0
    limit_name = ""

    def configure_level(self, layout: Layout, base: Path, level: Path) -> None:
        """Make a freshly created intermediate level usable by the levels below it."""

    def finish_scope(self, layout: Layout, scope_dir: Path) -> None:
        """Make the scope's own directory able to hold configured job groups."""

    def init_job(self, cpuset_dir: Path) -> None:
        """Anything a new job group needs before its cpuset is written."""

    def refresh(self, levels: list[Path]) -> None:
        """Follow CPU hot-plug down the levels, where the kernel does not."""

    def oom_kills(self, memory_dir: Path) -> int:
        """How many processes the kernel killed in this group for its memory limit."""
        return 0


class V1Driver(Driver):
    """v1 cpuset children start with EMPTY cpuset.cpus/cpuset.mems and refuse tasks
    until both are set, so every level we create copies its parent's; and a v1
    parent does not grow back when a CPU is hot-plugged, so refresh() re-copies."""
    version = 1
    limit_name = "memory.limit_in_bytes"

    def configure_level(self, layout: Layout, base: Path, level: Path) -> None:
        if base == layout.cpuset:
            _inherit_v1_cpuset(level)

    def init_job(self, cpuset_dir: Path) -> None:
        _write(cpuset_dir / "cpuset.mems", _read(cpuset_dir.parent / "cpuset.mems"))

    def refresh(self, levels: list[Path]) -> None:
        for level in levels:
            try:
                _inherit_v1_cpuset(level)
            except OSError as exc:  # a shrink below a child's CPUs is refused: keep what we have
                log.debug("cannot refresh %s: %s", level, exc)

    def oom_kills(self, memory_dir: Path) -> int:
        return _counter(memory_dir / "memory.oom_control", "oom_kill")


class V2Driver(Driver):
    """v2 needs `+cpuset`/`+memory` in `cgroup.subtree_control` of every parent."""
    version = 2
    limit_name = "memory.max"

    def configure_level(self, layout: Layout, base: Path, level: Path) -> None:
        _enable_controllers(layout, level.parent)

    def finish_scope(self, layout: Layout, scope_dir: Path) -> None:
        _enable_controllers(layout, scope_dir)

    def oom_kills(self, memory_dir: Path) -> int:
        return _counter(memory_dir / "memory.events", "oom_kill")


def driver_for(layout: Layout) -> Driver:
    return V1Driver() if layout.version == 1 else V2Driver()


def _inherit_v1_cpuset(level: Path) -> None:
    for name in ("cpuset.cpus", "cpuset.mems"):
        parent_value = _read(level.parent / name)
        if _read(level / name) != parent_value:
            _write(level / name, parent_value)


def _enable_controllers(layout: Layout, parent: Path) -> None:
    wanted = ["cpuset"] + (["memory"] if layout.memory else [])
    enabled = _read(parent / "cgroup.subtree_control").split()
    for controller in wanted:
        if controller not in enabled:
            # Separate writes: a missing memory controller must not cost us cpuset.
            _write(parent / "cgroup.subtree_control", f"+{controller}")


def _counter(path: Path, key: str) -> int:
    """A `key value` line of a flat-keyed cgroup file (memory.events, memory.oom_control); 0 if absent."""
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def _safe_name(scope: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", scope) or "default"


class ScopeCgroups:
    """The `heaven/<scope>` subtree of one agent, and the job groups in it."""

    def __init__(self, layout: Layout, scope: str):
        self.layout = layout
        self.driver = driver_for(layout)
        self.scope = _safe_name(scope)

    def _levels(self, base: Path) -> list[Path]:
        return [base / "heaven", base / "heaven" / self.scope]

    def dirs(self) -> list[Path]:
        """This scope's directory in each hierarchy (its job groups live inside)."""
        return [self._levels(base)[-1] for base in self.layout.bases()]

    def prepare(self) -> None:
        """Create and configure the intermediate levels; raises OSError if the hierarchy is not ours to write."""
        for attempt in range(3):
            try:
                return self._prepare()
            except FileNotFoundError:
                # Another agent's remove() took the shared `heaven` level away
                # between our mkdirs (it rmdirs it whenever it looks empty).
                if attempt == 2:
                    raise

    def _prepare(self) -> None:
        for base in self.layout.bases():
            for level in self._levels(base):
                level.mkdir(exist_ok=True)
                self.driver.configure_level(self.layout, base, level)
            self.driver.finish_scope(self.layout, self._levels(base)[-1])

    def refresh(self) -> None:
        """Re-copy the parent's CPUs down the levels where the version needs it (v1 ignores CPU hot-plug)."""
        self.driver.refresh(self._levels(self.layout.cpuset))

    def job(self, job_id: int) -> "JobCgroup":
        return JobCgroup(self, job_id)

    def remove(self, timeout: float = 2.0) -> bool:
        """Remove what is left of the scope (leftover job groups first); the shared `heaven` level only if empty."""
        ok = True
        for base in self.layout.bases():
            scope_dir = self._levels(base)[-1]
            if scope_dir.is_dir():
                for child in scope_dir.iterdir():
                    if child.is_dir():
                        ok &= _rmdir(child, timeout)
            ok &= _rmdir(scope_dir, timeout)
            try:
                (base / "heaven").rmdir()
            except OSError:
                pass  # another agent's scope still lives there
        return ok


def stale_scopes(layout: Layout, name: str) -> list[ScopeCgroups]:
    """Scopes `heaven/<name>.<pid>` left by earlier runs of an agent called `name`
    whose process is gone: whatever still runs there is no longer anyone's job."""
    prefix = _safe_name(name) + "."
    found = []
    for entry in sorted((layout.cpuset / "heaven").glob(prefix + "*")):
        pid = entry.name[len(prefix):]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            found.append(ScopeCgroups(layout, entry.name))
    return found


def _rmdir(path: Path, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        try:
            path.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError as exc:
            if exc.errno != errno.EBUSY or time.monotonic() >= deadline:
                if timeout > 0:  # a single try is expected to fail now and then
                    log.warning("cannot remove cgroup %s: %s", path, exc)
                return False
        time.sleep(0.02)


class JobCgroup:
    """One job's group in every hierarchy of the layout."""

    def __init__(self, scope: ScopeCgroups, job_id: int):
        self.scope = scope
        layout = scope.layout
        self.driver = scope.driver
        name = f"job-{int(job_id)}"
        self.cpuset_dir = layout.cpuset / "heaven" / scope.scope / name
        self.memory_dir = layout.memory / "heaven" / scope.scope / name if layout.memory else None

    @classmethod
    def at(cls, scope: ScopeCgroups, cpuset_dir: Path, memory_dir: Path | None) -> "JobCgroup":
        """The group of a job an earlier agent started (it stays in that agent's scope)."""
        group = cls.__new__(cls)
        group.scope, group.driver = scope, scope.driver
        group.cpuset_dir, group.memory_dir = Path(cpuset_dir), Path(memory_dir) if memory_dir else None
        return group

    @property
    def dirs(self) -> list[Path]:
        return [self.cpuset_dir] + ([self.memory_dir] if self.memory_dir and self.memory_dir != self.cpuset_dir else [])

    @property
    def procs_files(self) -> list[str]:
        """The files a child writes its own PID into to join (v1 cgroup.procs moves the whole process)."""
        return [str(d / "cgroup.procs") for d in self.dirs]

    def create(self, cores: Sequence[int], memory_mb: int = 0) -> None:
        """mkdir + configure; on any failure nothing is left behind."""
        try:
            for d in self.dirs:
                # exist_ok: a group left by a crashed run of this agent is reused, not an error.
                d.mkdir(exist_ok=True)
            self.driver.init_job(self.cpuset_dir)
            self.set_cpus(cores)
            if memory_mb > 0 and self.memory_dir is not None:
                _write(self.memory_limit_file(), str(int(memory_mb) * MIB))
        except OSError:
            self.remove(timeout=0.5)
            raise

    def set_cpus(self, cores: Sequence[int]) -> None:
        value = format_cpu_list(cores)
        try:
            _write(self.cpuset_dir / "cpuset.cpus", value)
        except OSError:
            # Maybe a CPU came online since the levels were made (v1 parents
            # do not grow back): refresh them and try once more.
            self.scope.refresh()
            _write(self.cpuset_dir / "cpuset.cpus", value)

    def memory_limit_file(self) -> Path | None:
        if self.memory_dir is None:
            return None
        return self.memory_dir / self.driver.limit_name

    def oom_kills(self) -> int:
        """Processes of this group the kernel killed for its memory limit (0 without a memory group)."""
        return self.driver.oom_kills(self.memory_dir) if self.memory_dir is not None else 0

    def pids(self) -> list[int]:
        found: list[int] = []
        for d in self.dirs:
            try:
                text = (d / "cgroup.procs").read_text()
            except OSError:
                continue
            found.extend(int(x) for x in text.split() if int(x) not in found)
        return found

    def kill_all(self, sig: int) -> None:
        """Signal every process in the group, including any that left the job's process group."""
        for pid in self.pids():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def remove(self, timeout: float = 2.0) -> bool:
        ok = True
        for d in self.dirs:
            ok &= _rmdir(d, timeout)
        return ok


def join_and_pin(procs_files: list[str], cores: set[int]) -> Callable[[], None]:
    """The preexec hook of a started job: join the job's groups, then set the affinity.

    It runs in the forked child between fork and exec, so everything the job
    ever creates inherits the placement (in affinity mode procs_files is empty).
    Only raw os calls (no Python locks, no logging), as a forked child of a
    threaded process may find any lock held by a thread that no longer exists.
    """
    def hook() -> None:
        me = b"%d" % os.getpid()
        for path in procs_files:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, me)
            finally:
                os.close(fd)
        os.sched_setaffinity(0, cores)
    return hook
