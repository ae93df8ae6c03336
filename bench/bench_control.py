"""Benchmarks of the walking system: a real controller and real agents on loopback.

    .venv/bin/python bench/bench_control.py            # everything, ~1-3 minutes
    .venv/bin/python bench/bench_control.py --quick    # smaller counts, for a smoke run (docs not written)

Measures, each on a freshly started controller (SQLite in a temp dir) started as
its own process the way tests/live.py does:

1. submit -> running latency on an idle system (2 agents, cores 0 and 1),
   one job at a time, client polling GET /api/v1/jobs/{id} every 1 ms;
2. submit throughput: 16 client threads POSTing jobs that cannot start
   (no agent registered, so every job waits);
3. 1,000 trivial ``true`` jobs end to end on 2 agents with 1 core each;
4. controller RSS idle after start and after the 1,000-job run.

Prints a table and rewrites its own section of docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine, machine_md, md_table, write_section  # noqa: E402

from tests.live import LiveCluster, alive  # noqa: E402

COMMAND = ".venv/bin/python bench/bench_control.py"
TERMINAL = {"succeeded", "failed", "cancelled"}
console = Console(width=None if sys.stdout.isatty() else 150)


# -- helpers --------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.NoSuchProcess:
            pass
    return total


def agent_mode(cluster: LiveCluster, name: str) -> str:
    log = (cluster.root / f"agent-{name}.log").read_text(errors="replace")
    marker = " mode)"
    for line in log.splitlines():
        if "registered" in line and marker in line:
            return line.rsplit("(", 1)[1].removesuffix(marker)
    return "?"


def state_counts(db: Path) -> dict[str, int]:
    """Read the controller's SQLite directly (read-only, WAL): costs the controller nothing."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return dict(con.execute("SELECT state, count(*) FROM jobs GROUP BY state").fetchall())
    finally:
        con.close()


def pidfd_watched(agent_pid: int, job_pid: int) -> bool | None:
    """Is the agent's pidfd for ``job_pid`` in one of its epoll sets (None: no such pidfd found)?
    Read from /proc/<agent>/fdinfo: a pidfd shows "Pid:", an epoll fd lists its "tfd:" targets."""
    pidfd, watched = None, set()
    for fd in os.listdir(f"/proc/{agent_pid}/fd"):
        try:
            target = os.readlink(f"/proc/{agent_pid}/fd/{fd}")
            info = Path(f"/proc/{agent_pid}/fdinfo/{fd}").read_text()
        except OSError:
            continue
        if "pidfd" in target and f"Pid:\t{job_pid}\n" in info:
            pidfd = int(fd)
        if "eventpoll" in target:
            watched |= {int(line.split()[1]) for line in info.splitlines() if line.startswith("tfd:")}
    return None if pidfd is None else pidfd in watched


def check_watchers(cluster: LiveCluster) -> dict[str, bool | None]:
    """After a run: start a `sleep` on each agent and look whether its exit would be noticed at once."""
    out = {}
    for name, proc in cluster.agents.items():
        job = cluster.submit(["sleep", "30"], node=name, priority=1000)  # ahead of any backlog left
        job = cluster.wait_pid(job["id"], timeout=10)
        out[name] = pidfd_watched(proc.pid, job["pid"])
        cluster.http.post(f"/api/v1/jobs/{job['id']}/cancel")
    return out


def db_job(db: Path, job_id: int) -> dict:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        state, pid = con.execute("SELECT state, pid FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return {"state": state, "pid": pid}
    finally:
        con.close()


def start_cluster(root: Path) -> LiveCluster:
    root.mkdir(parents=True, exist_ok=True)
    cluster = LiveCluster(root, scheduler_interval=1.0)  # the shipped default interval
    cluster.start_controller()
    return cluster


# -- 1. latency -------------------------------------------------------------------------------
def bench_latency(tmp: Path, count: int, warmup: int = 3, watch: str = "api", mode: str = "auto") -> dict:
    """``watch``: "api" polls GET /api/v1/jobs/{id} every 1 ms; "db" reads the SQLite
    file every 1 ms instead, which costs the controller nothing (how much does polling perturb?)."""
    cluster = start_cluster(tmp / f"latency-{watch}-{mode}")
    db = cluster.root / "heaven.db"
    try:
        time.sleep(0.5)
        idle_rss = rss_mb(cluster.controller.pid)
        cluster.start_agent("a0", "0", mode)
        cluster.start_agent("a1", "1", mode)
        mode = agent_mode(cluster, "a0")
        http = httpx.Client(base_url=cluster.url, timeout=30, headers=cluster.auth_headers())
        post, running, pid, server = [], [], [], []
        for i in range(warmup + count):
            t0 = time.perf_counter()
            answer = http.post("/api/v1/jobs", json={"command": ["sleep", "30"], "cores": 1, "name": f"lat{i}"})
            t_post = time.perf_counter()
            assert answer.status_code == 201, answer.text
            job_id = answer.json()["id"]
            t_running = None
            while True:
                job = http.get(f"/api/v1/jobs/{job_id}").json() if watch == "api" else db_job(db, job_id)
                now = time.perf_counter()
                if job["state"] == "running" and t_running is None:
                    t_running = now
                if job["pid"]:
                    break
                if job["state"] in TERMINAL:
                    raise RuntimeError(f"job {job_id} ended before it ran: {job}")
                if now - t0 > 20:
                    raise RuntimeError(f"job {job_id} not running with a pid after 20 s: {job}")
                time.sleep(0.001)
            if i >= warmup:
                post.append(t_post - t0)
                running.append(t_running - t0)
                pid.append(now - t0)
                job = http.get(f"/api/v1/jobs/{job_id}").json()
                server.append(job["started_at"] - job["submitted_at"])
            # Back to idle: cancel, and wait until the agent has really stopped the process.
            http.post(f"/api/v1/jobs/{job_id}/cancel")
            deadline = time.monotonic() + 15
            while alive(job["pid"]) and time.monotonic() < deadline:
                time.sleep(0.002)
            time.sleep(0.02)
        http.close()
        return {"post": post, "running": running, "pid": pid, "server": server, "mode": mode,
                "idle_rss": idle_rss, "rss_after": rss_mb(cluster.controller.pid)}
    finally:
        cluster.stop()


# -- 2. submit throughput ---------------------------------------------------------------------
def bench_throughput(tmp: Path, count: int, threads: int, seconds: float, start=start_cluster) -> dict:
    """Stops issuing after ``seconds`` even if ``count`` was not reached (a slow
    controller must not make the run last many minutes); the rate counts what was done.
    ``start(root)`` starts the controller (bench_auth.py starts others: another revision,
    another kind of token)."""
    cluster = start(tmp / "throughput")
    try:
        body = {"command": ["true"], "cores": 1}
        with httpx.Client(base_url=cluster.url, timeout=60, headers=cluster.auth_headers()) as warm:  # first-request effects out of the way
            for _ in range(10):
                assert warm.post("/api/v1/jobs", json=body).status_code == 201
        idle_rss = rss_mb(cluster.controller.pid)
        done: list[tuple[float, float]] = []
        errors: list[str] = []
        lock = threading.Lock()
        next_index = iter(range(count))
        deadline = time.perf_counter() + seconds

        def worker() -> None:
            with httpx.Client(base_url=cluster.url, timeout=60, headers=cluster.auth_headers()) as client:
                while True:
                    with lock:
                        if next(next_index, None) is None:
                            return
                    t0 = time.perf_counter()
                    if t0 > deadline:
                        return
                    try:
                        answer = client.post("/api/v1/jobs", json=body)
                        ok = answer.status_code == 201
                    except httpx.HTTPError as exc:
                        ok, answer = False, exc
                    t1 = time.perf_counter()
                    with lock:
                        if ok:
                            done.append((t0, t1))
                        else:
                            errors.append(str(getattr(answer, "text", answer))[:200])

        ctl_cpu0 = cpu_seconds([cluster.controller.pid])
        me0 = time.process_time()
        began = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            for _ in range(threads):
                pool.submit(worker)
        elapsed = time.perf_counter() - began
        ctl_cpu = cpu_seconds([cluster.controller.pid]) - ctl_cpu0
        client_cpu = time.process_time() - me0
        ends = sorted(t1 for _, t1 in done)
        windows = []
        size = max(1, len(ends) // 6)
        prev = began
        for k in range(0, len(ends) - size + 1, size):
            chunk_end = ends[k + size - 1]
            windows.append((k + size, size / (chunk_end - prev)))
            prev = chunk_end
        stored = sum(state_counts(cluster.root / "heaven.db").values())
        return {"count": len(done), "asked": count, "cut": len(done) + len(errors) < count, "errors": errors, "elapsed": elapsed, "rate": len(done) / elapsed,
                "latencies": [t1 - t0 for t0, t1 in done], "windows": windows, "threads": threads,
                "ctl_cpu": ctl_cpu, "client_cpu": client_cpu, "stored": stored,
                "idle_rss": idle_rss, "rss_after": rss_mb(cluster.controller.pid)}
    finally:
        cluster.stop()


# -- 3 + 4. 1,000 trivial jobs, memory -------------------------------------------------------
def bench_trivial(tmp: Path, count: int, threads: int, timeout: float) -> dict:
    cluster = start_cluster(tmp / "trivial")
    db = cluster.root / "heaven.db"
    try:
        time.sleep(1.0)
        rss_idle = rss_mb(cluster.controller.pid)
        cluster.start_agent("a0", "0")
        cluster.start_agent("a1", "1")
        time.sleep(1.0)
        rss_idle_agents = rss_mb(cluster.controller.pid)
        pids = [cluster.controller.pid, *(p.pid for p in cluster.agents.values())]
        cpu0 = {pid: cpu_seconds([pid]) for pid in pids}
        body = {"command": ["true"], "cores": 1}
        lock = threading.Lock()
        next_index = iter(range(count))
        errors: list[str] = []
        submit_done: list[float] = []

        def worker() -> None:
            with httpx.Client(base_url=cluster.url, timeout=60, headers=cluster.auth_headers()) as client:
                while True:
                    with lock:
                        if next(next_index, None) is None:
                            submit_done.append(time.perf_counter())
                            return
                    answer = client.post("/api/v1/jobs", json=body)
                    if answer.status_code != 201:
                        with lock:
                            errors.append(answer.text[:200])

        began = time.perf_counter()
        pool = ThreadPoolExecutor(threads)
        for _ in range(threads):
            pool.submit(worker)
        counts: dict[str, int] = {}
        finished_in = None
        while time.perf_counter() - began < timeout:
            counts = state_counts(db)
            if sum(counts.get(s, 0) for s in TERMINAL) >= count:
                finished_in = time.perf_counter() - began
                break
            time.sleep(0.02)
        pool.shutdown(wait=True)
        elapsed = finished_in or (time.perf_counter() - began)
        submit_elapsed = max(submit_done) - began if submit_done else float("nan")
        counts = state_counts(db)
        cpu = {pid: cpu_seconds([pid]) - cpu0[pid] for pid in pids}
        time.sleep(1.0)
        rss_after = rss_mb(cluster.controller.pid)
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        rows = con.execute("SELECT id, node, submitted_at, started_at, finished_at, state FROM jobs "
                           "WHERE started_at IS NOT NULL ORDER BY started_at").fetchall()
        con.close()
        try:
            watchers = check_watchers(cluster)
        except (AssertionError, OSError, httpx.HTTPError) as exc:
            watchers = {"?": f"not checked: {exc}"}
        hold = [f - s for _, _, _, s, f, st in rows if f is not None and st == "succeeded"]
        per_node = {n: len(rs) for n, rs in sorted(((n, [r for r in rows if r[1] == n]) for n in {r[1] for r in rows}))}
        # An exit reported a second late was caught by the agent's 1 s heartbeat, not by its pidfd watcher.
        late = {n: sum(1 for r in rows if r[1] == n and r[4] is not None and r[4] - r[3] > 0.5) for n in per_node}
        first_late = {n: next((i for i, r in enumerate(r for r in rows if r[1] == n)
                               if r[4] is not None and r[4] - r[3] > 0.5), None) for n in per_node}
        waits = [s - sub for _, _, sub, s, _, _ in rows]
        gaps = []
        by_node: dict[str, list] = {}
        for r in rows:
            by_node.setdefault(r[1], []).append(r)
        for runs in by_node.values():
            for prev, nxt in zip(runs, runs[1:]):
                if prev[4] is not None:
                    gaps.append(nxt[3] - prev[4])
        span = (max(r[4] for r in rows if r[4]) - min(r[2] for r in rows)) if rows else float("nan")
        return {"count": count, "succeeded": counts.get("succeeded", 0), "counts": counts, "elapsed": elapsed,
                "completed": finished_in is not None, "submit_elapsed": submit_elapsed, "errors": errors,
                "rate": counts.get("succeeded", 0) / elapsed, "server_span": span, "hold": hold, "gaps": gaps,
                "waits": waits, "per_node": per_node, "late": late, "watchers": watchers, "first_late": first_late,
                "cpu": {("controller" if pid == pids[0] else f"agent {i}"): c for i, (pid, c) in enumerate(cpu.items())},
                "rss_idle": rss_idle, "rss_idle_agents": rss_idle_agents, "rss_after": rss_after,
                "agent_rss": [rss_mb(p.pid) for p in cluster.agents.values()], "mode": agent_mode(cluster, "a0")}
    finally:
        cluster.stop()


# -- output -------------------------------------------------------------------------------------
def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def render(lat: dict, latdb: dict, lataff: dict, thr: dict, triv: dict, args) -> tuple[Table, Table, str]:
    p = lat["pid"]
    cut = f", cut off at {args.submit_seconds:g} s of {thr['asked']} asked" if thr["cut"] else ""
    rows = [
        # (metric, value, target, slurm, ok)
        ("1. submit→running with pid, p50 (client, 1 ms polling)", ms(pct(p, 50)), "< 50 ms", "≈ 1 s", pct(p, 50) < 0.05),
        ("1. submit→running with pid, p95", ms(pct(p, 95)), "< 50 ms", "≈ 1 s", pct(p, 95) < 0.05),
        ("1. submit→running with pid, max", ms(max(p)), "< 50 ms", "≈ 1 s", max(p) < 0.05),
        ("1b. same, watching the SQLite file instead of the API, p50 / p95 / max",
         f"{ms(pct(latdb['pid'], 50))} / {ms(pct(latdb['pid'], 95))} / {ms(max(latdb['pid']))}",
         "< 50 ms", "≈ 1 s", pct(latdb["pid"], 95) < 0.05),
        ("1c. same as 1b with `--mode affinity` agents, p50 / p95 / max",
         f"{ms(pct(lataff['pid'], 50))} / {ms(pct(lataff['pid'], 95))} / {ms(max(lataff['pid']))}",
         "< 50 ms", "≈ 1 s", pct(lataff["pid"], 95) < 0.05),
        ("1. submitted_at→started_at (controller clock), p50 / p95 / max",
         f"{ms(pct(lat['server'], 50))} / {ms(pct(lat['server'], 95))} / {ms(max(lat['server']))}",
         "< 50 ms", "≈ 1 s", pct(lat["server"], 95) < 0.05),
        (f"2. submit throughput ({thr['threads']} client threads, {thr['count']} jobs{cut})",
         f"{thr['rate']:.0f} submits/s", "≥ 1,000/s", "236–309/s (sbatch)", thr["rate"] >= 1000),
        (f"3. {triv['count']} `true` jobs end to end, 2 agents × 1 core",
         f"{triv['rate']:.1f} jobs/s ({triv['succeeded']} in {triv['elapsed']:.1f} s)",
         "≥ 100 jobs/s", "0.74 jobs/s default, 2.0 tuned", triv["rate"] >= 100 and triv["completed"]),
        ("4. controller RSS idle after start", f"{triv['rss_idle']:.0f} MiB", "—", "—", None),
        ("4. controller RSS idle, 2 agents registered", f"{triv['rss_idle_agents']:.0f} MiB", "—", "—", None),
        (f"4. controller RSS after the {triv['count']}-job run", f"{triv['rss_after']:.0f} MiB", "—", "—", None),
    ]
    table = Table(title="Hot-Plug Heaven controller on loopback")
    for col in ("metric", "measured", "target", "Slurm 22.05", "target met?"):
        table.add_column(col)
    for metric, value, target, slurm, ok in rows:
        table.add_row(metric, value, target, slurm, "" if ok is None else ("[green]met[/]" if ok else "[red]missed[/]"))

    def dist(xs):
        return f"{ms(pct(xs, 50))} / {ms(pct(xs, 95))} / {ms(max(xs))}" if xs else "—"

    detail = [
        ["1. POST /api/v1/jobs answered (p50 / p95 / max)", dist(lat["post"])],
        ["1. first GET seeing state=running (p50 / p95 / max)", dist(lat["running"])],
        ["1. first GET seeing the pid (p50 / p95 / max)", dist(lat["pid"])],
        ["1. agent pinning mode", lat["mode"]],
        ["1b. first read of the SQLite file seeing state=running (p50 / p95 / max)", dist(latdb["running"])],
        ["1b. agent pinning mode", latdb["mode"]],
        ["1c. agent pinning mode", lataff["mode"]],
        ["2. POST latency under load (p50 / p95 / max)", dist(thr["latencies"])],
        ["2. rate by sixth of the run (jobs done so far: submits/s)",
         ", ".join(f"{n}: {r:.0f}" for n, r in thr["windows"])],
        ["2. controller CPU per submit", f"{thr['ctl_cpu'] / max(1, thr['count']) * 1000:.2f} ms "
                                        f"({thr['ctl_cpu']:.1f} s CPU in {thr['elapsed']:.1f} s wall)"],
        ["2. client CPU (16 threads, GIL) in the run", f"{thr['client_cpu']:.1f} s"],
        ["2. errors / jobs stored", f"{len(thr['errors'])} / {thr['stored']}"],
        ["2. controller RSS with the backlog queued", f"{thr['rss_after']:.0f} MiB"],
        ["3. all submits accepted after", f"{triv['submit_elapsed']:.1f} s"],
        ["3. controller clock: first submit → last finish", f"{triv['server_span']:.1f} s"],
        ["3. per job: started_at→finished_at (place, agent spawns `true`, exit reported) p50 / p95 / max",
         dist(triv["hold"])],
        ["3. per core: finished_at→next started_at (reschedule gap) p50 / p95 / max", dist(triv["gaps"])],
        ["3. jobs per agent", ", ".join(f"{n}: {c}" for n, c in triv["per_node"].items())],
        ["3. jobs whose exit was processed > 0.5 s after placement (per agent; index of the first)",
         ", ".join(f"{n}: {triv['late'][n]} (from job #{triv['first_late'][n]})" if triv["late"][n] else f"{n}: 0"
                   for n in triv["per_node"])],
        ["3. after the run, a new job's pidfd is in the agent's epoll set (exit noticed at once)",
         ", ".join(f"{n}: {'yes' if w is True else 'NO (exits wait for the 1 s heartbeat)' if w is False else w}"
                   for n, w in triv["watchers"].items())],
        ["3. final states", ", ".join(f"{k}={v}" for k, v in sorted(triv["counts"].items()))],
        ["3. CPU seconds used in the run", ", ".join(f"{k} {v:.1f} s" for k, v in triv["cpu"].items())],
        ["3. agent RSS after the run", ", ".join(f"{r:.0f} MiB" for r in triv["agent_rss"])],
    ]
    dtable = Table(title="breakdown")
    dtable.add_column("what")
    dtable.add_column("value")
    for a, b in detail:
        dtable.add_row(a, b)

    md = [
        "## Controller on loopback (`bench/bench_control.py`)",
        "",
        "A real controller process (SQLite in a temp dir, `HEAVEN_SCHEDULER_INTERVAL=1.0`) and real agent "
        "processes, started as `tests/live.py` does; the client runs on the same machine, so client, controller, "
        "agents and jobs all share its CPUs.",
        "",
        machine_md(COMMAND),
        "",
        md_table(["metric", "measured", "target", "Slurm 22.05", "target"],
                 [[m, v, t, s, "" if ok is None else verdict(ok)] for m, v, t, s, ok in rows]),
        "",
        "Breakdown:",
        "",
        md_table(["what", "value"], detail),
        "",
        f"Method: (1) {len(p)} jobs `sleep 30`, one at a time after 3 warm-up jobs, each cancelled and its "
        "process gone before the next; the time runs from sending `POST /api/v1/jobs` until `GET "
        "/api/v1/jobs/{id}` (polled every 1 ms) shows a pid, which the agent reports right after spawning. "
        "(1b) the same on a fresh cluster, but the client reads the pid from the SQLite file (read-only) "
        "instead of asking the API, so its polling costs the controller nothing; (1c) as (1b) with agents "
        "started with `--mode affinity` (no cgroup). "
        f"(2) {thr['count']} `POST /api/v1/jobs` (stopping after {args.submit_seconds:g} s at most) from {thr['threads']} threads, one keep-alive httpx client each, "
        "with no agent registered so every job stays pending and the queue grows. "
        f"(3) {triv['count']} `true` jobs (cores=1) submitted from {args.threads} threads with 2 agents "
        "(cores 0 and 1); done when every job is in a final state, read from the SQLite file directly. "
        "(4) psutil RSS of the controller process.",
    ]
    if any(triv["late"].values()):
        md += ["", f"Note: {sum(triv['late'].values())} exits in (3) reached the controller about 1 s late, and from "
               "some job on, every exit on that agent did: the agent noticed them by its 1 s heartbeat poll instead "
               "of its pidfd watcher. The epoll check in the breakdown shows whether an agent still watches new "
               "jobs' pidfds after the run; `bench/profile_agent.py --patch-watch` measures the agent with the "
               "stale selector key removed before each `add_reader`."]
    md += ["", "Where the time goes: `.venv/bin/python bench/profile_control.py submit|trivial|latency` (controller "
           "in-process under cProfile, wall-clock timers on the unit of work and per-job milestones) and "
           "`.venv/bin/python bench/profile_agent.py` (one agent in-process with timers on its steps)."]
    return table, dtable, "\n".join(md)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts, do not write docs/benchmarks.md")
    parser.add_argument("--latency-jobs", type=int, default=50)
    parser.add_argument("--submits", type=int, default=3000)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--submit-seconds", type=float, default=45.0, help="stop the throughput run after this")
    parser.add_argument("--timeout", type=float, default=80.0, help="give up on the end-to-end run after this")
    args = parser.parse_args()
    if args.quick:
        args.latency_jobs, args.submits, args.jobs = 10, 300, 100
    info = machine()
    console.print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="heaven-bench-") as tmp:
        tmp = Path(tmp)
        with console.status("1. submit→running latency"):
            lat = bench_latency(tmp, args.latency_jobs)
            latdb = bench_latency(tmp, args.latency_jobs, watch="db")
            lataff = bench_latency(tmp, args.latency_jobs, watch="db", mode="affinity")
        console.print(f"1. latency done: p50 {ms(pct(lat['pid'], 50))} (API polling), "
                      f"{ms(pct(latdb['pid'], 50))} (watching the database), {ms(pct(lataff['pid'], 50))} (affinity mode)")
        with console.status("2. submit throughput"):
            thr = bench_throughput(tmp, args.submits, args.threads, args.submit_seconds)
        console.print(f"2. throughput done: {thr['rate']:.0f} submits/s")
        with console.status(f"3. {args.jobs} trivial jobs"):
            triv = bench_trivial(tmp, args.jobs, args.threads, args.timeout)
        console.print(f"3. trivial jobs done: {triv['rate']:.1f} jobs/s")
    table, dtable, md = render(lat, latdb, lataff, thr, triv, args)
    console.print(table)
    console.print(dtable)
    console.print(f"total benchmark time {time.monotonic() - began:.0f} s")
    if not args.quick:
        path = write_section("control", md)
        console.print(f"wrote the control section of {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
