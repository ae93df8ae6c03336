"""Where the cgroup hierarchies are: /proc/self/mountinfo and /proc/self/cgroup.

Reading the mounts is apart from the drivers that write the groups
(cgroups.py): detection decides the version and the base directories once,
from text, so it is tested on recorded /proc files of machines we do not have.

Where `<base>` is, per cgroup version:
- v1: the agent's OWN cgroup in that hierarchy (from /proc/self/cgroup), so a
  container's or a systemd unit's limits still cover its jobs, and stopping
  the unit takes its jobs along.
- v2: the root of the mount. A v2 group that holds processes cannot hand
  controllers to children ("no internal processes"), and the agent's own group
  holds the agent; the root is exempt. Where that fails (a container whose
  cgroup namespace root holds processes) preparing fails and the executor falls
  back to affinity.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


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
                available = (m.point / "cgroup.controllers").read_text().split()
            except OSError:
                continue
            if "cpuset" in available:
                return cls(2, m.point, m.point if "memory" in available else None)
        return None

    def bases(self) -> list[Path]:
        """The distinct hierarchy bases (v2, or co-mounted v1 controllers, share one)."""
        return [self.cpuset] + ([self.memory] if self.memory and self.memory != self.cpuset else [])
