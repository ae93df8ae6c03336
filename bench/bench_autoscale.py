"""Demand that rises and falls, on a pool that scales against a static pool of the same peak size.

    .venv/bin/python bench/bench_autoscale.py             # ~2.5 minutes; writes docs/benchmarks.md
    .venv/bin/python bench/bench_autoscale.py --quick     # one wave each (docs not written)

Each scenario is a real controller (its own process, SQLite) and real local agents, one
CPU each, with waves of jobs (``sleep``) that need every core of the peak, on a fixed timeline
(one every ``--period`` s), with nothing to do between them for longer than the cool-down:

- ``autoscaled``: a ``local`` pool, min 0, max = the peak, scale-in cool-down 3 s; its
  agents are started when jobs wait and stopped when idle;
- ``static``: the same number of agents, started before the first wave, kept all along.

Sampled every 0.2 s through the API: nodes registered and their free cores. Reported:
time to capacity (per wave, submit to the last of its jobs running: its process started),
node-seconds (how long nodes were registered, summed) and idle core-seconds (cores of
registered nodes no job held). An agent that is starting but not yet registered counts
as no node: it costs a process here, and a cloud bill on a ``command`` pool.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from _report import machine_md, md_table, write_section  # noqa: E402

from tests.live import LiveCluster, wait_for  # noqa: E402

COMMAND = ".venv/bin/python bench/bench_autoscale.py"
CPUS = sorted(os.sched_getaffinity(0))[:2]
COOLDOWN = 3.0


class Sampler(threading.Thread):
    """Node-seconds and idle core-seconds, integrated from samples of GET /api/v1/nodes."""

    def __init__(self, cluster: LiveCluster, every: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.cluster, self.every = cluster, every
        self.node_seconds = self.idle_core_seconds = 0.0
        self.peak_nodes = 0
        self._done = threading.Event()

    def run(self) -> None:
        last = time.monotonic()
        while not self._done.wait(self.every):
            try:
                nodes = [n for n in self.cluster.http.get("/api/v1/nodes").json() if n["state"] != "down"]
            except Exception:  # a sample lost to a busy machine: the next one counts the time
                continue
            now = time.monotonic()
            span, last = now - last, now
            self.node_seconds += span * len(nodes)
            self.idle_core_seconds += span * sum(n["free_cores"] for n in nodes)
            self.peak_nodes = max(self.peak_nodes, len(nodes))

    def stop(self) -> None:
        self._done.set()
        self.join()


def run_waves(cluster: LiveCluster, waves: int, job_seconds: float, period: float) -> list[float]:
    """Wave ``i`` at ``i x period`` s (the same timeline for both pools): one job per CPU of the
    peak; waits ``period`` after the last one too. Returns each wave's time to capacity (s)."""
    to_capacity, began = [], time.monotonic()
    for wave in range(waves):
        time.sleep(max(0.0, began + wave * period - time.monotonic()))
        jobs = [cluster.submit(["sleep", str(job_seconds)], cores=1, name=f"wave{wave}") for _ in CPUS]
        # A wave slower than the period (agents starting on a busy machine) delays the next one:
        # the run then lasts longer than waves x period, and the table shows by how much.
        done = [cluster.wait_state(j["id"], "succeeded", timeout=120) for j in jobs]
        to_capacity.append(max(j["started_at"] - j["submitted_at"] for j in done))
    time.sleep(max(0.0, began + waves * period - time.monotonic()))
    return to_capacity


def scenario(kind: str, waves: int, job_seconds: float, period: float) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"bench-autoscale-{kind}-") as tmp:
        root = Path(tmp)
        settings = {"autoscale_interval": 0.3}
        if kind == "autoscaled":
            settings["pools"] = json.dumps([{
                "name": "burst", "provider": "local", "min_nodes": 0, "max_nodes": len(CPUS), "node_cores": 1,
                "cpus": CPUS, "SCALE_IN_COOLDOWN": COOLDOWN, "workdir": str(root / "pool")}])
        cluster = LiveCluster(root, **settings)
        try:
            cluster.start_controller()
            if kind == "static":
                for i, cpu in enumerate(CPUS, start=1):
                    cluster.start_agent(f"static-{i}", str(cpu))
            sampler = Sampler(cluster)
            began = time.monotonic()
            sampler.start()
            try:
                to_capacity = run_waves(cluster, waves, job_seconds, period)
            except AssertionError:  # what the pool did, for the report of a failed run
                for e in cluster.every_event():
                    print(f"{e['ts']:.1f} {e['action']:>16} {e['node'] or '':10} {e['detail'][:160]}")
                raise
            sampler.stop()
            elapsed = time.monotonic() - began
            decisions = [e for e in cluster.every_event() if e["actor"] == "autoscaler"
                         and e["action"] in ("scale_out", "scale_in", "node_retired", "prespawn")]
            if kind == "autoscaled":  # leave no agent behind: the pool retires them once idle
                wait_for(lambda: not cluster.http.get("/api/v1/nodes").json(), 60, what="the pool to empty")
        finally:
            cluster.stop()
    return {"kind": kind, "to_capacity": to_capacity, "elapsed": elapsed, "node_seconds": sampler.node_seconds,
            "idle_core_seconds": sampler.idle_core_seconds, "peak_nodes": sampler.peak_nodes,
            "decisions": decisions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one wave each, docs not written")
    parser.add_argument("--waves", type=int, default=2)
    parser.add_argument("--job-seconds", type=float, default=4.0)
    parser.add_argument("--period", type=float, default=25.0, help="seconds from one wave to the next")
    args = parser.parse_args()
    waves = 1 if args.quick else args.waves
    load_before = os.getloadavg()[0]
    results = [scenario(kind, waves, args.job_seconds, args.period) for kind in ("autoscaled", "static")]
    rows = []
    for r in results:
        caps = r["to_capacity"]
        rows.append([r["kind"], f"{statistics.median(caps):.2f} s", f"{max(caps):.2f} s", r["peak_nodes"],
                     f"{r['node_seconds']:.0f}", f"{r['idle_core_seconds']:.0f}", f"{r['elapsed']:.0f} s"])
        print(f"{r['kind']:>10}: time to capacity median {statistics.median(caps):.2f} s, worst {max(caps):.2f} s; "
              f"peak {r['peak_nodes']} nodes; {r['node_seconds']:.0f} node-s; "
              f"{r['idle_core_seconds']:.0f} idle core-s over {r['elapsed']:.0f} s")
    auto, static = results
    load = f"load average (1 min) {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    print(load)
    saved = 1 - auto["idle_core_seconds"] / static["idle_core_seconds"] if static["idle_core_seconds"] else 0.0
    print(f"idle core-seconds saved by scaling: {saved:.0%}")
    for e in auto["decisions"][:6]:
        print(f"  {e['action']:>12} {e['node'] or '':8} {e['detail'][:150]}")
    if args.quick:
        return
    headers = ["pool", "time to capacity (median)", "worst", "peak nodes", "node-seconds", "idle core-seconds",
               "run"]
    body = "\n\n".join([
        "## Autoscaling: demand that rises and falls (bench/bench_autoscale.py)",
        f"{waves} waves of {len(CPUS)} one-core `sleep {args.job_seconds:g}` jobs (the peak: every CPU), one "
        f"every {args.period:g} s, measured over {waves} x {args.period:g} s for both pools; the autoscaled pool is `local`, min 0, max {len(CPUS)}, "
        f"cool-down {COOLDOWN:g} s, one CPU per node; the static pool has {len(CPUS)} agents all along. "
        "Time to capacity is submit to the wave's last job running.",
        md_table(headers, rows),
        f"Scaling saved {saved:.0%} of the idle core-seconds; the price is the time to capacity, "
        "which for the autoscaled pool includes starting an agent process (a Python interpreter and "
        f"its imports) and its registration, and so grows with the machine's load: {load} "
        "(2 CPUs shared with other work).",
        machine_md(COMMAND),
    ])
    write_section("autoscale", body)


if __name__ == "__main__":
    main()
