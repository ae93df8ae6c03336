"""Thread-wide CPU affinity for a whole process tree.

`sched_setaffinity` acts on ONE thread (the kernel takes a thread id), so
pinning a running program means walking every process of its tree and every
thread of every process (`/proc/<pid>/task/*`). The walk races with the
program: threads and children appear and vanish while we look. We tolerate
vanishing (ESRCH / missing /proc entries are simply skipped) and catch
newcomers by walking again until a round finds no thread we have not pinned:
a thread created by an already-pinned thread inherits the new mask, so only
threads born from not-yet-pinned parents can slip through, and the next round
sees them.

This module is the runtime of the "affinity" mode, and the cgroup mode uses it
too after every cpuset change (on cgroup v2 a cpuset update may keep a narrower
user-requested affinity, so we always set the mask explicitly).

Also here: the kernel's CPU list syntax ("0-3,6") both ways, and small /proc
readers shared by the executor and its tests.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence

import psutil

# A walk that keeps finding new threads after this many rounds is a fork bomb
# or a thread pool churning; what is left will be caught by the next set_cores
# or, in cgroup mode, is already confined by the cpuset.
MAX_ROUNDS = 5


def format_cpu_list(cores: Iterable[int]) -> str:
    """[0, 1, 2, 5] -> "0-2,5", the format of cpuset.cpus and Cpus_allowed_list."""
    ordered = sorted(set(int(c) for c in cores))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def parse_cpu_list(text: str) -> list[int]:
    """"0-2,5" -> [0, 1, 2, 5]; an empty string is the empty set (as in an unset cpuset)."""
    cores: set[int] = set()
    for part in text.strip().split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            cores.update(range(int(lo), int(hi) + 1))
        else:
            cores.add(int(part))
    return sorted(cores)


def kill_quietly(pid: int, sig: int) -> None:
    """Send a signal; a process that is already gone is not an error."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def task_ids(pid: int) -> list[int]:
    """Every thread id of a process; [] if it is gone."""
    try:
        return [int(name) for name in os.listdir(f"/proc/{pid}/task")]
    except (FileNotFoundError, ProcessLookupError, NotADirectoryError):
        return []


def status_field(tid: int, field: str) -> str | None:
    """One line of /proc/<tid>/status (e.g. "Cpus_allowed_list"), None if the task is gone."""
    try:
        with open(f"/proc/{tid}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return line.split(":", 1)[1].strip()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def allowed_cpus(tid: int) -> list[int] | None:
    """The CPUs a task may run on, as the kernel reports it (after any cpuset)."""
    text = status_field(tid, "Cpus_allowed_list")
    return None if text is None else parse_cpu_list(text)


def descendants(pid: int) -> list[int]:
    """Children, grandchildren, ... of pid (by parent links; orphans are lost)."""
    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return []


def group_members(pgid: int) -> list[int]:
    """Every process whose process group is pgid.

    Parent links lose orphans (a child whose shell exited is re-parented to
    init); the process group keeps them, so started jobs use both.
    """
    members = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as fh:
                stat = fh.read()
        except (FileNotFoundError, ProcessLookupError):
            continue
        # The command name (field 2) may contain spaces and parentheses;
        # everything after the LAST ')' is well-formed: state ppid pgrp ...
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 2 and int(fields[2]) == pgid:
            members.append(int(name))
    return members


def process_tree(pid: int, pgid: int | None = None) -> list[int]:
    """pid first, then its descendants and (if pgid is given) its group's members."""
    seen = {pid}
    tree = [pid]
    extra = descendants(pid) + (group_members(pgid) if pgid is not None else [])
    for p in extra:
        if p not in seen:
            seen.add(p)
            tree.append(p)
    return tree


def pin_threads(pids: Callable[[], Iterable[int]] | Iterable[int], cores: Sequence[int]) -> int:
    """Set the affinity of every thread of every process to `cores`.

    `pids` is best a callable that lists the tree afresh, so processes forked
    during the walk are found in the next round. Returns how many threads were
    pinned. Vanished tasks are skipped; any other error (EINVAL: no allowed
    CPU in the mask, e.g. outside the task's cpuset) propagates as OSError.
    """
    mask = set(cores)
    if not mask:
        raise ValueError("an empty core set cannot be pinned")
    lister = pids if callable(pids) else (lambda fixed=list(pids): fixed)
    pinned: set[int] = set()
    for _ in range(MAX_ROUNDS):
        fresh = [tid for pid in lister() for tid in task_ids(pid) if tid not in pinned]
        if not fresh:
            break
        for tid in fresh:
            try:
                os.sched_setaffinity(tid, mask)
            except ProcessLookupError:
                pass  # exited between the listing and now: nothing left to pin
            pinned.add(tid)
    return len(pinned)
