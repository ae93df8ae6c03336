"""The dashboard under load: 2,000 cores and 500 jobs, in Debian's headless Chromium.

    .venv/bin/python bench/bench_dashboard.py            # 40 events, ~1-2 minutes
    .venv/bin/python bench/bench_dashboard.py --quick    # 10 events (docs not written)

A real controller (its own process, SQLite) with 125 nodes of 16 cores that register
but run no agent, so what is placed on them stays ``assigned`` and the grid stays
full; 500 jobs of 4 cores hold all 2,000 cores. Then, one at a time, a job is
submitted through the API (it waits: no core is free) and the time is measured to
the moment the page's pending queue shows it (a MutationObserver in the page notes
it; both clocks are this machine's wall clock): from the submission's answer (the
job is committed by then), and from the moment the request was sent. While the
updates stream, requestAnimationFrame intervals give the frame time, and the page
counts the whole views and patches it received.
Prints the figures with the load average and writes its section of docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import os
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
                before = page.evaluate("window.heavenDashboard.received()")
                load_before = os.getloadavg()[0]
                delays, from_request = [], []
                for i in range(args.events):
                    sent = time.time() * 1000
                    job = cluster.submit(["sleep", "3600"], cores=1, name=f"probe{i}")
                    answered = time.time() * 1000
                    page.wait_for_function(f"'{job['id']}' in window.seen", timeout=30_000)
                    shown = page.evaluate(f"window.seen['{job['id']}']")
                    delays.append((shown - answered) / 1000)
                    from_request.append((shown - sent) / 1000)
                    time.sleep(0.2)
                frames = page.evaluate("window.frames_.slice(5)")
                after = page.evaluate("window.heavenDashboard.received()")
                load_after = os.getloadavg()[0]
                assert errors == [], errors
        finally:
            cluster.stop()

    def ms(values: list[float]) -> list[str]:
        return [f"{pct(values, 50) * 1000:.0f} ms", f"{pct(values, 95) * 1000:.0f} ms", f"{max(values) * 1000:.0f} ms"]

    rows = [["event → DOM (from the submission's answer to the pending queue showing it)", *ms(delays),
             "p50 ≤ 200 ms"],
            ["event → DOM (from the submission's request)", *ms(from_request), "–"],
            ["frame time (requestAnimationFrame interval) while updates stream", f"{statistics.median(frames):.1f} ms",
             f"{pct(frames, 95):.1f} ms", f"{max(frames):.1f} ms", "smooth: ≈ 16.7 ms"]]
    table = md_table(["", "p50", "p95", "max", "target"], rows)
    received = (f"messages received while measuring: {after['view'] - before['view']} whole views, "
                f"{after['patch'] - before['patch']} patches")
    load = f"load average (1 min) {load_before:.2f} at the start, {load_after:.2f} at the end"
    console.print(table)
    console.print(f"{received}; {load}")
    if not args.quick:
        md = (f"The dashboard at {NODES * CORES_PER_NODE:,} cores and {JOBS} running jobs ({NODES} nodes), "
              f"{args.events} submissions one at a time, in headless Chromium (`{COMMAND}`).\n\n{table}\n\n"
              f"{received.capitalize()}; {load} (the machine is shared).\n\n{machine_md(COMMAND)}\n")
        console.print(f"wrote {write_section('dashboard', md)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
