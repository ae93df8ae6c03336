"""Telemetry the agent reports every second: per job and per node.

Units: `cpu_percent` is always "100 == one core busy", for a job (summed over
its whole process tree) and for the node (summed over its cores), so the
controller can compare a job's use with the cores it holds directly.

CPU use is a rate, so it needs two samples. We keep the psutil.Process objects
of each job between calls (psutil remembers the previous CPU times inside
them); a process seen for the first time contributes 0 until its next sample.
A cached object is dropped when its PID disappears or is recycled (psutil
compares creation times).

A job's CPU use says what it got, not what it wanted: on cores that other work also
runs on, a job whose threads are all busy may get a fraction of them and read as idle.
So each sample also gives `wait_percent`, the time its threads were runnable but waiting
for a CPU ("100 == one thread waiting the whole interval"), from each thread's
/proc/PID/task/TID/schedstat (its second field: nanoseconds on a run queue). Use plus
wait is the job's demand: how many cores it would keep busy if it had them. A job with
more busy threads than the cores it holds, or one crowded out by host work, shows it.

Node CPU is computed from our own /proc/stat deltas rather than
psutil.cpu_percent(), whose "since last call" state is global to the process
and would be disturbed by any other caller. /proc/stat is also keyed by CPU
number, which matters once vCPUs are hot-plugged: an offline CPU keeps its
index (and reports 0) instead of shifting the list.
"""
from __future__ import annotations

import glob
import os
import re
import shutil
import time
from collections.abc import Callable

import psutil

MIB = 1024 * 1024


def _read_proc_stat() -> dict[int, tuple[int, int]]:
    """{cpu number: (busy ticks, total ticks)} for the online CPUs."""
    cpus: dict[int, tuple[int, int]] = {}
    with open("/proc/stat") as fh:
        for line in fh:
            if not line.startswith("cpu") or line.startswith("cpu "):
                continue
            name, *values = line.split()
            ticks = [int(v) for v in values]
            # user nice system idle iowait irq softirq steal [guest guest_nice]:
            # guest time is already counted in user/nice, so it is left out of the total.
            total = sum(ticks[:8])
            idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
            cpus[int(name[3:])] = (total - idle, total)
    return cpus


def run_queue_wait_ns(pid: int) -> int | None:
    """Nanoseconds the threads of ``pid`` have spent runnable but not running (None: gone)."""
    total, seen = 0, False
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as fh:
                total += int(fh.read().split()[1])
            seen = True
        except (OSError, IndexError, ValueError):
            continue  # a thread that ended between the listing and the read
    return total if seen else None


class Telemetry:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._procs: dict[int, dict[int, psutil.Process]] = {}
        self._waits: dict[int, tuple[float, dict[int, int]]] = {}  # job -> (when, pid -> wait ns)
        self.clock = clock
        self._last_stat = _read_proc_stat()

    def sample_job(self, job_id: int, pids: list[int]) -> dict:
        """CPU% of the whole tree since the previous sample, its run-queue wait in the same
        unit, resident memory, live PIDs."""
        known = self._procs.setdefault(job_id, {})
        fresh: dict[int, psutil.Process] = {}
        cpu = 0.0
        rss = 0
        alive: list[int] = []
        for pid in pids:
            proc = known.get(pid)
            try:
                if proc is None or not proc.is_running():  # is_running() also catches a recycled PID
                    proc = psutil.Process(pid)
                    proc.cpu_percent(None)  # first call only primes the counter
                else:
                    cpu += proc.cpu_percent(None)
                with proc.oneshot():
                    rss += proc.memory_info().rss
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                continue  # gone between the listing and now, or a zombie without memory
            fresh[pid] = proc
            alive.append(pid)
        self._procs[job_id] = fresh  # processes no longer in the tree are dropped
        return {"cpu_percent": round(cpu, 1), "wait_percent": self._wait_percent(job_id, alive),
                "rss_mb": round(rss / MIB, 1), "pids": alive}

    def _wait_percent(self, job_id: int, pids: list[int]) -> float:
        """Run-queue wait since the previous sample, over the processes seen both times (a
        process seen first contributes 0, as for CPU; a thread that ended takes its count
        with it, so a negative step counts as 0)."""
        now = self.clock()
        waits = {pid: w for pid in pids if (w := run_queue_wait_ns(pid)) is not None}
        before = self._waits.get(job_id)
        self._waits[job_id] = (now, waits)
        if before is None or now <= before[0]:
            return 0.0
        waited = sum(max(0, w - before[1][pid]) for pid, w in waits.items() if pid in before[1])
        return round(100.0 * waited / 1e9 / (now - before[0]), 1)

    def forget(self, job_id: int) -> None:
        self._procs.pop(job_id, None)
        self._waits.pop(job_id, None)

    def node(self) -> dict:
        """Per-core busy % since the previous call (list index == CPU number), their sum,
        and memory in use (total minus available: what new work could not get)."""
        now = _read_proc_stat()
        per_core = [0.0] * (max(now) + 1 if now else 0)
        for cpu, (busy, total) in now.items():
            before = self._last_stat.get(cpu)
            if before is None:
                continue  # just came online: no interval to measure yet
            d_busy, d_total = busy - before[0], total - before[1]
            per_core[cpu] = round(100.0 * d_busy / d_total, 1) if d_total > 0 else 0.0
        self._last_stat = now
        mem = psutil.virtual_memory()
        return {
            "cpu_percent": round(sum(per_core), 1),
            "per_core": per_core,
            "memory_used_mb": round((mem.total - mem.available) / MIB, 1),
            "memory_total_mb": round(mem.total / MIB, 1),
        }


def machine_resources(path: str | None = None, cores: list[int] | None = None) -> dict:
    """What this node can offer, for registration: its cores (``cores``, default those we may
    use), its share of the memory, free disk where jobs run (`path`, default the working
    directory) and NVIDIA GPUs. The memory is the share its cores are of the machine's online
    CPUs: two agents that split one machine's cores (``heaven up``) must not each offer all of
    it, or the cluster counts its RAM twice."""
    gpus = [d for d in glob.glob("/dev/nvidia*") if re.fullmatch(r"/dev/nvidia[0-9]+", d)]
    mine = sorted(cores) if cores else sorted(os.sched_getaffinity(0))
    share = min(1.0, len(mine) / (os.cpu_count() or len(mine)))
    return {
        "local_cores": mine,
        "memory_mb": int(psutil.virtual_memory().total // MIB * share),
        "storage_mb": shutil.disk_usage(path or os.getcwd()).free // MIB,
        "gpus": len(gpus),
    }
