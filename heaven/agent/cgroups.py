"""Per-job cgroups: a cpuset of the job's cores and a memory limit.

Layout: `<base>/heaven/<scope>/job-<id>` in the cpuset hierarchy and, when one
is writable, the memory hierarchy (`scope` is one agent, so several agents on
one machine, or a test run, never touch each other's groups).

Where `<base>` is, per cgroup version:
- v1: the agent's OWN cgroup in that hierarchy (from /proc/self/cgroup), so a
  container's or a systemd unit's limits still cover its jobs, and stopping
  the unit takes its jobs along.
- v2: the root of the mount. A v2 group that holds processes cannot hand
  controllers to children ("no internal processes"), and the agent's own group
  holds the agent; the root is exempt. Where that fails (a container whose
  cgroup namespace root holds processes) detection fails and the executor falls
  back to affinity.

Version quirks handled here, so the executor never sees them:
- v1 cpuset children start with EMPTY cpuset.cpus/cpuset.mems and refuse tasks
  until both are set, so every level we create copies its parent's; and a v1
  parent does not grow back when a CPU is hot-plugged, so `refresh()` re-copies.
- v2 needs `+cpuset`/`+memory` in `cgroup.subtree_control` of every parent.
- rmdir fails with EBUSY while a dying task is still being torn down, so
  removal retries briefly.
"""
from __future__ import annotations

import errno
import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from heaven.agent.affinity import format_cpu_list

log = logging.getLogger(__name__)

MIB = 1024 * 1024


@dataclass(frozen=True)
class Mount:
    point: Path
    root: str         # the part of the hierarchy this mount shows (not "/" in containers)
    fstype: str       # "cgroup" (v1) or "cgroup2"
    options: frozenset[str]


def parse_mountinfo(text: str) -> list[Mount]:
    """cgroup mounts of /proc/self/mountinfo (see proc(5): fields, then " - ", fstype, source, super options)."""
    mounts = []
    for line in text.splitlines():
        if " - " not in line:
            continue
        left, right = line.split(" - ", 1)
        fields, rfields = left.split(), right.split()
        if len(fields) < 5 or len(rfields) < 3 or rfields[0] not in ("cgroup", "cgroup2"):
            continue
        point = fields[4].replace("\\040", " ")
        mounts.append(Mount(Path(point), fields[3], rfields[0], frozenset(rfields[2].split(","))))
    return mounts


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """/proc/self/cgroup -> {controller: path}; the v2 entry ("0::/x") is under key ""."""
    paths: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.strip().split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    return paths


def _inside(mount: Mount, own: str) -> Path:
    """Where our own group `own` (a hierarchy path) appears under the mount point."""
    root = mount.root.rstrip("/")
    if own == mount.root or own.startswith(root + "/"):
        return mount.point / own[len(root):].lstrip("/")
    return mount.point  # our group is not visible through this mount: use its top


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


@dataclass(frozen=True)
class Layout:
    """Where the job groups go: version, and the base directory per controller."""
    version: int
    cpuset: Path
    memory: Path | None

    @classmethod
    def detect(cls, mountinfo: str | None = None, self_cgroup: str | None = None) -> "Layout | None":
        """The cpuset hierarchy we could use (v1 preferred where cpuset is bound to v1), or None."""
        if mountinfo is None:
            mountinfo = Path("/proc/self/mountinfo").read_text()
        if self_cgroup is None:
            self_cgroup = Path("/proc/self/cgroup").read_text()
        mounts, own = parse_mountinfo(mountinfo), parse_proc_cgroup(self_cgroup)
        v1 = {c: m for m in mounts if m.fstype == "cgroup" for c in ("cpuset", "memory") if c in m.options}
        if "cpuset" in v1:
            memory = _inside(v1["memory"], own.get("memory", "/")) if "memory" in v1 else None
            return cls(1, _inside(v1["cpuset"], own.get("cpuset", "/")), memory)
        for m in mounts:
            if m.fstype != "cgroup2":
                continue
            try:
                available = _read(m.point / "cgroup.controllers").split()
            except OSError:
                continue
            if "cpuset" in available:
                return cls(2, m.point, m.point if "memory" in available else None)
        return None

    def bases(self) -> list[Path]:
        """The distinct hierarchy bases (v2, or co-mounted v1 controllers, share one)."""
        return [self.cpuset] + ([self.memory] if self.memory and self.memory != self.cpuset else [])


def _safe_name(scope: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", scope) or "default"


class ScopeCgroups:
    """The `heaven/<scope>` subtree of one agent, and the job groups in it."""

    def __init__(self, layout: Layout, scope: str):
        self.layout = layout
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
                if self.layout.version == 2:
                    self._enable_controllers(level.parent)
                elif base == self.layout.cpuset:
                    self._inherit_v1_cpuset(level)
            if self.layout.version == 2:
                self._enable_controllers(self._levels(base)[-1])

    def _enable_controllers(self, parent: Path) -> None:
        wanted = ["cpuset"] + (["memory"] if self.layout.memory else [])
        enabled = _read(parent / "cgroup.subtree_control").split()
        for controller in wanted:
            if controller not in enabled:
                # Separate writes: a missing memory controller must not cost us cpuset.
                _write(parent / "cgroup.subtree_control", f"+{controller}")

    @staticmethod
    def _inherit_v1_cpuset(level: Path) -> None:
        for name in ("cpuset.cpus", "cpuset.mems"):
            parent_value = _read(level.parent / name)
            if _read(level / name) != parent_value:
                _write(level / name, parent_value)

    def refresh(self) -> None:
        """Re-copy the parent's CPUs down the v1 levels (they do not follow CPU hot-plug by themselves)."""
        if self.layout.version == 1:
            for level in self._levels(self.layout.cpuset):
                try:
                    self._inherit_v1_cpuset(level)
                except OSError as exc:  # a shrink below a child's CPUs is refused: keep what we have
                    log.debug("cannot refresh %s: %s", level, exc)

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
        self.version = layout.version
        name = f"job-{int(job_id)}"
        self.cpuset_dir = layout.cpuset / "heaven" / scope.scope / name
        self.memory_dir = layout.memory / "heaven" / scope.scope / name if layout.memory else None

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
            if self.version == 1:
                _write(self.cpuset_dir / "cpuset.mems", _read(self.cpuset_dir.parent / "cpuset.mems"))
            self.set_cpus(cores)
            if memory_mb > 0 and self.memory_dir is not None:
                limit = str(int(memory_mb) * MIB)
                _write(self.memory_dir / ("memory.limit_in_bytes" if self.version == 1 else "memory.max"), limit)
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
        return self.memory_dir / ("memory.limit_in_bytes" if self.version == 1 else "memory.max")

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
