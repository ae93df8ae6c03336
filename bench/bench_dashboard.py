"""The dashboard under load: 2,000 cores and 500 jobs, in Debian's headless Chromium.

    .venv/bin/python bench/bench_dashboard.py            # 40 events, ~1-2 minutes
    .venv/bin/python bench/bench_dashboard.py --quick    # 10 events (docs not written)

A real controller (its own process, SQLite) with 125 nodes of 16 cores that register
but run no agent, so what is placed on them stays ``assigned`` and the grid stays
full; 500 jobs of 4 cores hold all 2,000 cores. Then, one at a time, a job is
submitted through the API (it waits: no core is free) and the time is measured from
the submission's answer to the moment the page's pending queue shows it (a
MutationObserver in the page notes it; both clocks are this machine's wall clock).
While the views stream, requestAnimationFrame intervals give the frame time.
Prints the figures and writes its section of docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine_md, md_table, write_section  # noqa: E402
from bench_control import console, pct  # noqa: E402

from tests.live import LiveCluster, wait_for  # noqa: E402
from tests.web.browser import chromium_page  # noqa: E402

COMMAND = ".venv/bin/python bench/bench_dashboard.py"
NODES, CORES_PER_NODE, JOBS, JOB_CORES = 125, 16, 500, 4

WATCH = """
window.seen = {};
new MutationObserver(() => {
  for (const row of document.querySelectorAll('#queue tr')) {
    const id = row.children[1] && row.children[1].textContent.split(' ')[0];
    if (id && !(id in window.seen)) window.seen[id] = Date.now();
  }
}).observe(document.getElementById('queue'), {childList: true, subtree: true, characterData: true});
window.frames_ = []; let last = performance.now();
(function tick(t) { window.frames_.push(t - last); last = t; requestAnimationFrame(tick); })(last);
"""


def fill(cluster: LiveCluster) -> None:
    for i in range(NODES):
        answer = cluster.http.post("/api/v1/agents/register", json={
            "name": f"n{i:03d}", "local_cores": list(range(CORES_PER_NODE)), "memory_mb": 65536})
        assert answer.status_code == 200, answer.text
    for i in range(JOBS):
        cluster.submit(["sleep", "3600"], cores=JOB_CORES, name=f"load{i}")
    wait_for(lambda: not cluster.http.get("/api/v1/jobs", params={"state": "pending", "limit": 1}).json(), 120,
             0.5, "every load job to be placed")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=40)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.events = 10
    with tempfile.TemporaryDirectory(prefix="heaven-bench-dashboard-") as tmp:
        cluster = LiveCluster(Path(tmp), node_timeout=3600, steal="off")
        cluster.start_controller()
        try:
            fill(cluster)
            with chromium_page() as (page, errors):
                page.goto(cluster.url)
                page.fill("input[name=token]", cluster.token)
                page.click("#signin button[type=submit]")
                page.wait_for_function(f"document.querySelectorAll('#grid .core').length === {NODES * CORES_PER_NODE}",
                                       timeout=60_000)
                page.evaluate(WATCH)
                delays = []
                for i in range(args.events):
                    job = cluster.submit(["sleep", "3600"], cores=1, name=f"probe{i}")
                    answered = time.time() * 1000
                    page.wait_for_function(f"'{job['id']}' in window.seen", timeout=30_000)
                    delays.append((page.evaluate(f"window.seen['{job['id']}']") - answered) / 1000)
                    time.sleep(0.2)
                frames = page.evaluate("window.frames_.slice(5)")
                assert errors == [], errors
        finally:
            cluster.stop()
    rows = [["event → DOM (pending queue shows the new job)", f"{pct(delays, 50) * 1000:.0f} ms",
             f"{pct(delays, 95) * 1000:.0f} ms", f"{max(delays) * 1000:.0f} ms", "p50 ≤ 200 ms"],
            ["frame interval while views stream", f"{statistics.median(frames):.1f} ms", f"{pct(frames, 95):.1f} ms",
             f"{max(frames):.1f} ms", "smooth: ≈ 16.7 ms"]]
    table = md_table(["", "p50", "p95", "max", "target"], rows)
    console.print(table)
    if not args.quick:
        md = (f"The dashboard at {NODES * CORES_PER_NODE:,} cores and {JOBS} running jobs ({NODES} nodes), "
              f"{args.events} submissions one at a time, in headless Chromium (`{COMMAND}`).\n\n{table}\n\n"
              f"{machine_md(COMMAND)}\n")
        console.print(f"wrote {write_section('dashboard', md)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
