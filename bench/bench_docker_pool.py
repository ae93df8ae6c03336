"""How long a pool takes from its decision to a node that is up: a ``docker`` node (a container
of a local engine running the agent) beside a ``local`` one (the agent as a plain process).

    .venv/bin/python bench/bench_docker_pool.py            # 5 rounds each, ~1.5 minutes; writes docs/benchmarks.md
    .venv/bin/python bench/bench_docker_pool.py --quick    # 2 rounds each (docs not written)

One real controller per kind (its own process, SQLite) with a pool of at most one node of one
CPU, a cool-down of 1 s. A round submits one `sleep 0.5` job to the empty pool, waits for it
to succeed and for the pool to retire the node, then the next. From the store's events,
on the controller's one clock:

- decision -> registered: the ``scale_out`` event (written with the time of the look that
  decided, before the provider is called) to the node's ``register`` event;
- decision -> job running: to the job's ``started_at`` (its process started on the new node).

The docker pool's engine is started exactly as the suite starts its own (tests/docker_engine.py:
own data root and socket, no bridge, no iptables), and the agents' image is made from local
files (heaven.control.pools.docker.import_host_image); nothing is pulled. No target is asserted.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from _report import machine_md, md_table, write_section  # noqa: E402

from heaven.control.pools.docker import import_host_image  # noqa: E402
from tests.docker_engine import DockerEngine  # noqa: E402
from tests.live import LiveCluster, wait_for  # noqa: E402

COMMAND = ".venv/bin/python bench/bench_docker_pool.py"
CPU = sorted(os.sched_getaffinity(0))[-1]
IMAGE = "heaven-bench/agent-host:1"


def rounds_of(kind: str, rounds: int, engine: DockerEngine | None) -> list[tuple[float, float]]:
    """(decision -> registered, decision -> job running) in seconds, per round."""
    with tempfile.TemporaryDirectory(prefix=f"bench-pool-{kind}-") as tmp:
        root = Path(tmp)
        spec = {"name": "bench", "provider": kind, "min_nodes": 0, "max_nodes": 1, "node_cores": 1, "cpus": [CPU],
                "SCALE_IN_COOLDOWN": 1.0, "workdir": str(root / "pool")}
        if engine is not None:
            spec.update(docker_host=engine.host, image=IMAGE)
        cluster = LiveCluster(root, pools=json.dumps([spec]), autoscale_interval=0.3)
        out = []
        try:
            cluster.start_controller()
            for number in range(1, rounds + 1):
                node = f"bench-{number}"
                job = cluster.submit(["sleep", "0.5"], cores=1)
                done = cluster.wait_state(job["id"], "succeeded", timeout=120)
                wait_for(lambda: any(e["action"] == "node_retired" and e["node"] == node
                                     for e in cluster.every_event()), 120, what=f"{node} to be retired")
                events = cluster.every_event()
                decided = next(e["ts"] for e in events if e["action"] == "scale_out" and e["node"] == node)
                registered = next(e["ts"] for e in events if e["action"] == "register" and e["node"] == node)
                assert done["node"] == node, (done["node"], node)
                out.append((registered - decided, done["started_at"] - decided))
        finally:
            cluster.stop()
    return out


def row(kind: str, samples: list[tuple[float, float]]) -> list[str]:
    up, running = [s[0] for s in samples], [s[1] for s in samples]
    return [kind, f"{statistics.median(up):.2f} s", f"{max(up):.2f} s", f"{statistics.median(running):.2f} s",
            f"{max(running):.2f} s", str(len(samples))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds each, docs not written")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rounds = 2 if args.quick else args.rounds
    load_before = os.getloadavg()
    results = {"local": rounds_of("local", rounds, None)}
    engine = DockerEngine()
    try:
        engine.start()
        import_host_image(engine.client, IMAGE)
        results["docker"] = rounds_of("docker", rounds, engine)
    finally:
        engine.stop()
    load_after = os.getloadavg()
    rows = [row(kind, samples) for kind, samples in results.items()]
    for r in rows:
        print(f"{r[0]:>7}: decision -> registered median {r[1]}, worst {r[2]}; decision -> job running median "
              f"{r[3]}, worst {r[4]} ({r[5]} rounds)")
    load = (f"load average (1/5/15 min) {' '.join(f'{x:.2f}' for x in load_before)} at the start, "
            f"{' '.join(f'{x:.2f}' for x in load_after)} at the end")
    print(load)
    if args.quick:
        return
    headers = ["pool provider", "decision -> node registered (median)", "worst", "decision -> job running (median)",
               "worst", "rounds"]
    body = "\n\n".join([
        "## Docker pool: decision to a node that is up (bench/bench_docker_pool.py)",
        f"A pool of at most one node of one CPU (CPU {CPU}), empty at each round; one `sleep 0.5` job makes it "
        "launch a node, which is retired after a 1 s cool-down before the next round. Times are the "
        "controller's own: from the `scale_out` event (the look that decided) to the node's `register` "
        "event, and to the job's start on it. `local`: the agent as a process; `docker`: the agent in a "
        "container of a local engine (image from local files, host's trees mounted read-only).",
        md_table(headers, rows),
        f"Both include the agent's own start (a Python interpreter and its imports) and registration; a docker "
        f"node adds the engine's create and start of its container. The kinds run one after the other, local "
        f"first, on a machine others load too, so one run compares them only as far as the load held still: "
        f"{load} (2 CPUs shared with other work).",
        machine_md(COMMAND),
    ])
    write_section("docker_pool", body)


if __name__ == "__main__":
    main()
