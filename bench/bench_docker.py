"""What the container runtime costs on this machine: a container job's start, a live cpuset
change (`docker update`), and a stop, beside the same calls for a process job under its shim.

    .venv/bin/python bench/bench_docker.py                 # 30 starts, 100 updates, ~30 s
    .venv/bin/python bench/bench_docker.py --quick         # 5 starts, 20 updates (docs not written)

It starts its own dockerd exactly as the suite does (tests/docker_engine.py: own data root,
exec root and socket, no bridge, no iptables) with the busybox image imported from a local
rootfs, and drives the agent's own Executor (affinity placement), so each figure is what an
agent pays per call, the engine's API round trips included:

- start: Executor.start() of `sleep 60`, until it returns the job's PID (for a container:
  create + start + inspect; for a process: the shim forked by its zygote and the job exec'd);
- update: Executor.set_cores() moving the job between core 0 and core 1 (for a container:
  `docker update --cpuset-cpus` then the affinity of every thread; for a process: affinity);
- stop: Executor.stop() to the exit code collected by reap() (SIGTERM through --init).

Prints the figures and writes its section of docs/benchmarks.md. No target is asserted.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from _report import machine_md, md_table, write_section  # noqa: E402

from heaven.agent.executor import Executor  # noqa: E402
from tests.docker_engine import BUSYBOX_IMAGE, DockerEngine  # noqa: E402


def ms(values: list[float]) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]
    return f"{statistics.median(values) * 1000:.1f} / {p95 * 1000:.1f}"


def measure(ex: Executor, image: str | None, starts: int, updates: int) -> dict[str, list[float]]:
    cpus = sorted(os.sched_getaffinity(0))[:2]
    out: dict[str, list[float]] = {"start": [], "update": [], "stop": []}
    for i in range(starts):
        job_id = 1000 + i
        began = time.perf_counter()
        ex.start(job_id, ["sleep", "60"], [cpus[0]], image=image)
        out["start"].append(time.perf_counter() - began)
        if i == 0:
            for n in range(updates):
                began = time.perf_counter()
                ex.set_cores(job_id, [cpus[(n + 1) % len(cpus)]])
                out["update"].append(time.perf_counter() - began)
        began = time.perf_counter()
        ex.stop(job_id, grace=5)
        while ex.reap(job_id) is None:
            time.sleep(0.002)
        out["stop"].append(time.perf_counter() - began)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run; docs/benchmarks.md is not written")
    args = parser.parse_args()
    starts, updates = (5, 20) if args.quick else (30, 100)

    engine = DockerEngine()
    began = time.perf_counter()
    try:
        engine.start()
        ready = time.perf_counter() - began
        began = time.perf_counter()
        engine.import_busybox()
        imported = time.perf_counter() - began
        os.environ["DOCKER_HOST"] = engine.host
        with tempfile.TemporaryDirectory(prefix="bench-docker-") as tmp:
            ex = Executor(Path(tmp), f"bench-docker.{os.getpid()}", "affinity")
            try:
                results = {"container (busybox, --init)": measure(ex, BUSYBOX_IMAGE, starts, updates),
                           "process (shim)": measure(ex, None, starts, updates)}
            finally:
                ex.shutdown(kill=True, grace=1.0)
    finally:
        began = time.perf_counter()
        engine.stop()
        stopped = time.perf_counter() - began

    rows = [[kind, ms(r["start"]), ms(r["update"]), ms(r["stop"])] for kind, r in results.items()]
    table = md_table(["job", "start p50 / p95 (ms)", "live cpuset change p50 / p95 (ms)",
                      "stop to exit code p50 / p95 (ms)"], rows)
    engine_line = (f"The suite's own dockerd: answering in {ready:.2f} s, the busybox image imported in "
                   f"{imported:.2f} s, stopped and cleaned up in {stopped:.2f} s.")
    print(table)
    print(engine_line)
    if not args.quick:
        command = "bench/bench_docker.py"
        write_section("docker", "\n\n".join([
            "## Container runtime (bench/bench_docker.py)",
            f"{starts} starts and stops of `sleep 60` and {updates} live moves between two cores, "
            "through the agent's Executor, for a container job and for a process job under its shim, "
            "on the same machine at the same moment. On this shared machine the figures move with "
            "the other work on it.",
            table, engine_line, machine_md(f".venv/bin/python {command}")]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
