"""Where an agent's time goes between "the controller answered the long-poll" and
"the controller has the pid": one agent in-process with wall-clock timers (and
optionally cProfile), a real controller process, jobs submitted one at a time.

    .venv/bin/python bench/profile_agent.py [--count 30] [--mode auto|affinity|cgroup] [--cprofile]
    .venv/bin/python bench/profile_agent.py --workload trivial --count 500 [--patch-watch]

Not a benchmark: it explains the agent leg of bench_control.py's figures
(``latency``: one `sleep` job at a time; ``trivial``: `true` jobs back to back on one core).
"""
from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.live import LiveCluster, alive, wait_for  # noqa: E402

TIMES: dict[str, list[float]] = defaultdict(list)
T: dict[str, float] = {}


def note(name: str, seconds: float) -> None:
    TIMES[name].append(seconds)


def instrument(agent) -> None:
    """Timers on the agent's steps, keyed to the latest job started."""
    from heaven.agent import runtime

    http = agent.http
    original_get, original_post = http.get, http.post

    async def get(url, *a, **kw):
        t0 = time.perf_counter()
        answer = await original_get(url, *a, **kw)
        T["assignments answered"] = time.perf_counter()
        if "assignments" in url:
            note("GET assignments (long-poll, includes the wait)", T["assignments answered"] - t0)
        return answer

    async def post(url, *a, **kw):
        t0 = time.perf_counter()
        started = bool((kw.get("json") or {}).get("started"))
        if started and "apply done" in T:
            note("apply done -> report POST sent (event loop hop)", t0 - T["apply done"])
        answer = await original_post(url, *a, **kw)
        if started:
            note("report POST with the pid: round trip", time.perf_counter() - t0)
        return answer
    http.get, http.post = get, post

    apply = agent.apply

    async def timed_apply(desired):
        t0 = time.perf_counter()
        if "assignments answered" in T:
            note("assignments answered -> apply() called (JSON parse, Desired)", t0 - T["assignments answered"])
        await apply(desired)
        T["apply done"] = time.perf_counter()
        if desired:
            note("apply() (reconcile + executor.start on the worker thread)", T["apply done"] - t0)
    agent.apply = timed_apply

    start = agent.executor.start

    def timed_start(*a, **kw):
        t0 = time.perf_counter()
        try:
            return start(*a, **kw)
        finally:
            note("executor.start() (cgroup/affinity + fork/exec)", time.perf_counter() - t0)
    agent.executor.start = timed_start
    _ = runtime
    trace_spawn()


def hierarchy(procs_file: str) -> str:
    """/sys/fs/cgroup/cpuset/heaven/... -> cpuset (v2: the path below the mount)."""
    parts = Path(procs_file).parts
    return next((parts[i + 1] for i, p in enumerate(parts[:-1]) if p == "cgroup"), procs_file)


def trace_spawn() -> None:
    """Split executor.start(): cgroup creation, then the shim's start through its zygote
    (fork of the zygote, the shim's set-up, its fork/exec of the job, its answer)."""
    from heaven.agent import cgroups, shims

    create = cgroups.JobCgroup.create

    def timed_create(self, *a, **kw):
        t0 = time.perf_counter()
        try:
            return create(self, *a, **kw)
        finally:
            note("  cgroup create (mkdir + cpuset/memory writes)", time.perf_counter() - t0)
    cgroups.JobCgroup.create = timed_create

    spawn = shims.Spawner.spawn

    def timed_spawn(self, *a, **kw):
        t0 = time.perf_counter()
        try:
            return spawn(self, *a, **kw)
        finally:
            note("  shim start through the zygote until the job has exec'd", time.perf_counter() - t0)
    shims.Spawner.spawn = timed_spawn


def drive_trivial(url: str, count: int, db: str) -> None:
    """``count`` `true` jobs submitted at once; done when none is pending or running."""
    import sqlite3
    t0 = time.perf_counter()
    with httpx.Client(base_url=url, timeout=60, headers=_auth()) as http:
        for _ in range(count):
            assert http.post("/api/v1/jobs", json={"command": ["true"], "cores": 1}).status_code == 201
    while True:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        left = con.execute("SELECT count(*) FROM jobs WHERE state IN ('pending', 'assigned', 'running')").fetchone()[0]
        con.close()
        if not left:
            break
        time.sleep(0.02)
    elapsed = time.perf_counter() - t0
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    in_order = [f - s for s, f in con.execute("SELECT started_at, finished_at FROM jobs ORDER BY started_at")]
    con.close()
    holds = sorted(in_order)
    first = next((i for i, h in enumerate(in_order) if h > 0.5), None)
    print(f"{count} `true` jobs on one core in {elapsed:.1f} s = {count / elapsed:.1f} jobs/s; placement->exit "
          f"processed p50 {1000 * holds[len(holds) // 2]:.1f} ms, over 0.5 s: {sum(h > 0.5 for h in holds)}"
          f"{f' (the first is job #{first} of the run)' if first is not None else ''}")


def _auth() -> dict:
    """The administrator's token the parent passed down: the controller's API needs a caller."""
    return {"Authorization": f"Bearer {os.environ['HEAVEN_TOKEN']}"}


def drive(url: str, count: int) -> None:
    http = httpx.Client(base_url=url, timeout=30, headers=_auth())
    total = []
    for _ in range(count):
        t0 = time.perf_counter()
        job = http.post("/api/v1/jobs", json={"command": ["sleep", "30"], "cores": 1}).json()
        while not job["pid"]:
            time.sleep(0.001)
            job = http.get(f"/api/v1/jobs/{job['id']}").json()
        total.append(time.perf_counter() - t0)
        http.post(f"/api/v1/jobs/{job['id']}/cancel")
        while alive(job["pid"]):
            time.sleep(0.002)
        time.sleep(0.02)
    http.close()
    print(f"{count} jobs one at a time; submit->pid seen by the client: p50 {1000 * sorted(total)[len(total) // 2]:.1f} ms")


def patch_watch(agent) -> None:
    """The heartbeat's executor.poll() can reap a job whose pidfd reader has not fired
    yet; reap() closes that pidfd while the event loop still holds a selector key for
    its number. The next job's pidfd usually gets the same number, add_reader() then
    only updates the stale key (same events: no epoll_ctl) and the new pidfd is never
    watched: from then on every exit waits for the 1 s heartbeat. Removing the key
    before add_reader() (a no-op when there is none) avoids it; this experiment
    measures what that is worth without touching the agent's code."""
    watch = agent._watch

    def fresh_watch(job_id, run, pidfd):
        if pidfd is not None and agent._loop is not None:
            agent._loop.remove_reader(pidfd)
        return watch(job_id, run, pidfd)
    agent._watch = fresh_watch


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=30)
    parser.add_argument("--mode", default="auto")
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--workload", choices=("latency", "trivial"), default="latency",
                        help="latency: one `sleep` at a time; trivial: --count `true` jobs at once")
    parser.add_argument("--patch-watch", action="store_true",
                        help="experiment: drop a stale selector key before watching a new pidfd (see below)")
    parser.add_argument("--drive", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drive:
        drive_trivial(args.drive, args.count, args.db) if args.workload == "trivial" else drive(args.drive, args.count)
        return 0

    import uvicorn

    from heaven.agent.runtime import Agent
    from heaven.agent.server import create_agent_app
    from heaven.config import AgentSettings

    tmp = Path(tempfile.mkdtemp(prefix="heaven-agent-profile-"))
    cluster = LiveCluster(tmp, scheduler_interval=1.0)
    cluster.start_controller()
    agent = Agent(AgentSettings(name="a0", controller=cluster.url, cores="0", mode=args.mode,
                                workdir=str(tmp / "agents"), token=cluster.join_token))
    instrument(agent)
    if args.patch_watch:
        patch_watch(agent)
    server = uvicorn.Server(uvicorn.Config(create_agent_app(agent), host="127.0.0.1", port=0, log_level="warning"))
    results: dict = {}

    def watch() -> None:
        """Off the agent's thread: wait for registration, run the driver process, stop the agent."""
        try:
            wait_for(lambda: cluster.node("a0") and cluster.node("a0")["state"] == "up", 30, what="the agent")
            TIMES.clear()
            done = subprocess.run([sys.executable, __file__, "--drive", cluster.url, "--count", str(args.count),
                                   "--workload", args.workload, "--db", str(tmp / "heaven.db")],
                                  capture_output=True, text=True, env={**os.environ, "HEAVEN_TOKEN": cluster.token})
            if done.returncode:
                raise RuntimeError(f"the driver failed:\n{done.stderr[-3000:]}")
            results["driver"] = done.stdout.strip()
        except BaseException as exc:  # noqa: BLE001 - reported below
            results["error"] = exc
        finally:
            server.should_exit = True

    threading.Thread(target=watch, daemon=True).start()
    prof = cProfile.Profile() if args.cprofile else None
    if prof:
        prof.enable()
    try:
        asyncio.run(agent.run(server))  # the agent wants the main thread (signal handlers)
    finally:
        if prof:
            prof.disable()
        cluster.stop()
    if "error" in results:
        raise results["error"]
    print(f"mode {agent.executor.mode}; {results['driver']}")
    print(f"{'timer':66s} calls    p50 ms   p95 ms   max ms")
    for name, values in TIMES.items():
        v = sorted(values)
        print(f"  {name:64s} {len(v):5d} {1000 * v[len(v) // 2]:8.2f} {1000 * v[int(len(v) * 0.95)]:8.2f} {1000 * v[-1]:8.2f}")
    if prof:
        out = tmp / f"agent-{args.workload}.prof"
        prof.dump_stats(out)
        print(f"profile: {out}")
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).strip_dirs().sort_stats("tottime").print_stats(25)
        text = buf.getvalue()
        print(text[text.find("   ncalls"):])
    return 0


if __name__ == "__main__":
    sys.exit(main())
