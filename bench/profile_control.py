"""Where the controller's time goes: the controller in-process under cProfile (every
thread: the event loop, the request thread pool, the scheduler's worker thread),
driven by a client in another process, with real agent processes.

    .venv/bin/python bench/profile_control.py submit  [--count 1500]   # submits that stay pending (no agent)
    .venv/bin/python bench/profile_control.py trivial [--count 500]    # `true` jobs end to end on 2 agents
    .venv/bin/python bench/profile_control.py latency [--count 30]     # one job at a time, 1 ms polling

Prints the top functions by own time and by cumulative time, and wall-clock
timers on the store's unit of work (lock wait, time held) and on a few named
functions (admission, insert, queue positions, the scheduling cycle). Writes the
merged profile to a .prof file (open it with ``python -m pstats`` or snakeviz).
Not a benchmark: profiling slows everything down several times.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.live import LAUNCH, alive, free_port, wait_for  # noqa: E402

# -- wall-clock timers ----------------------------------------------------------------------------
TIMES: dict[str, list[float]] = defaultdict(list)
_TLOCK = threading.Lock()


def _note(name: str, seconds: float) -> None:
    with _TLOCK:
        TIMES[name].append(seconds)


def timed(module, attr: str, label: str | None = None) -> None:
    original = getattr(module, attr, None)
    if original is None:  # the code moved on: time what still exists
        print(f"(no {module.__name__}.{attr} to time)", file=sys.stderr)
        return
    label = label or f"{module.__name__}.{attr}"

    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            _note(label, time.perf_counter() - t0)
    wrapper.__wrapped__ = original
    setattr(module, attr, wrapper)


def instrument() -> None:
    """Wrap the functions worth timing where their callers look them up."""
    from heaven.control import convert, cycle, job_service, runtime
    from heaven.control.routers import agents as agents_router
    from heaven.control.routers import jobs as jobs_router
    from heaven.store import apply, engine, snapshot
    from heaven.store import jobs as store_jobs

    timed(job_service, "admit", "submit: admit() (never_fits over load_snapshot)")
    timed(store_jobs, "insert_job", "submit: jobs.insert_job()")
    timed(job_service, "insert_checked", "submit: job_service.insert_checked() (admission, dependencies, insert)")
    timed(jobs_router, "jobs_out", "response: convert.jobs_out() (POST and GET bodies)")
    timed(apply, "_store_positions", "cycle: _store_positions()")
    timed(runtime, "run_cycle", "cycle: run_cycle() (snapshot + schedule + apply)")
    timed(cycle, "schedule", "cycle: core schedule()")
    timed(cycle, "load_snapshot", "cycle: load_snapshot() before schedule")
    timed(apply, "load_snapshot", "cycle: load_snapshot() again in apply_plan")
    timed(apply, "verify", "cycle: verify()")
    timed(apply, "_store_reasons", "cycle: _store_reasons()")
    for name in ("report", "assignments"):
        timed(agents_router.agent_service, name, f"agents: agent_service.{name}()")
    _ = snapshot
    trace_milestones(job_service, runtime, agents_router.agent_service)

    begin = engine.Store.begin

    @contextmanager
    def timed_begin(self):
        if self._serialize is None:
            with begin(self) as conn:
                yield conn
            return
        t0 = time.perf_counter()
        with self._serialize:
            t1 = time.perf_counter()
            _note("store: wait for the process-wide write lock", t1 - t0)
            with self.engine.begin() as conn:
                t2 = time.perf_counter()
                _note("store: BEGIN IMMEDIATE (+ pool checkout)", t2 - t1)
                try:
                    yield conn
                finally:
                    t3 = time.perf_counter()
            _note("store: COMMIT", time.perf_counter() - t3)
            _note("store: lock held (whole unit of work)", time.perf_counter() - t1)
    engine.Store.begin = timed_begin


# -- SQL statements by kind ------------------------------------------------------------------------
STATEMENTS: dict[str, list] = defaultdict(lambda: [0, 0.0])


def count_statements(engine) -> None:
    """Tally every statement the controller sends (executemany counts once) and its time in the driver."""
    import re

    from sqlalchemy import event

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn, cursor, statement, parameters, context, executemany):
        conn.info["t0"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn, cursor, statement, parameters, context, executemany):
        words = re.sub(r"\s+", " ", statement).strip()
        m = re.match(r"(SELECT|INSERT INTO|UPDATE|DELETE FROM|BEGIN|PRAGMA)\b\s*(.*)", words, re.I)
        if m and m.group(1).upper() == "SELECT":
            table = re.search(r"\bFROM (\w+)", words)
            where = re.search(r"\bWHERE (.{0,60})", words)
            key = f"SELECT FROM {table.group(1) if table else '?'}" + (f" WHERE {where.group(1)}" if where else "")
        elif m:
            key = f"{m.group(1).upper()} {m.group(2)[:70]}"
        else:
            key = words[:80]
        with _TLOCK:
            entry = STATEMENTS[key]
            entry[0] += 1
            entry[1] += time.perf_counter() - conn.info.pop("t0", time.perf_counter())


# -- per-job milestones (controller clock, perf_counter) ----------------------------------------------
MILESTONES: dict[str, dict[int, float]] = defaultdict(dict)
ORDER = ("submit request in", "submit committed", "cycle placed it", "agent fetched its assignment",
         "agent reported the pid", "agent reported the exit")


def trace_milestones(job_service, runtime, agent_service) -> None:
    def mark(what: str, job_id: int) -> None:
        MILESTONES[what].setdefault(job_id, time.perf_counter())

    insert = job_service.insert_checked

    def insert_traced(*a, **kw):
        t0 = time.perf_counter()
        row = insert(*a, **kw)
        MILESTONES["submit request in"][row["id"]] = t0
        mark("submit committed", row["id"])  # inserted; the batch commits right after
        return row
    job_service.insert_checked = insert_traced

    placed = runtime.Controller.placed

    def placed_traced(self, applied):
        for p in applied.placed:
            mark("cycle placed it", p.job_id)
        return placed(self, applied)
    runtime.Controller.placed = placed_traced

    assignments = agent_service.assignments

    def assignments_traced(ctl, node):
        out = assignments(ctl, node)
        for a in out:
            mark("agent fetched its assignment", a.id)
        return out
    agent_service.assignments = assignments_traced

    report = agent_service.report

    def report_traced(ctl, node, body):
        for s in body.started:
            mark("agent reported the pid", s.job)
        for e in body.exits:
            mark("agent reported the exit", e.job)
        return report(ctl, node, body)
    agent_service.report = report_traced


def milestone_table() -> str:
    lines = []
    for a, b in zip(ORDER, ORDER[1:]):
        deltas = sorted(MILESTONES[b][j] - MILESTONES[a][j] for j in MILESTONES[b] if j in MILESTONES[a])
        if deltas:
            lines.append(f"  {a:30s} -> {b:30s} n={len(deltas):5d}  p50 {1000 * deltas[len(deltas) // 2]:7.2f} ms"
                         f"  p95 {1000 * deltas[int(len(deltas) * 0.95)]:7.2f} ms  max {1000 * deltas[-1]:7.2f} ms")
    return "\n".join(lines)


# -- the drivers (run in a child process so the client does not share the GIL) ---------------------
def drive(url: str, workload: str, count: int, threads: int, db: str | None = None) -> None:
    body = {"command": ["true"], "cores": 1}
    headers = {"Authorization": f"Bearer {os.environ['HEAVEN_TOKEN']}"}  # the administrator's, as heaven up's CLI
    t0 = time.perf_counter()
    if workload in ("submit", "trivial"):
        def worker(n: int) -> None:
            with httpx.Client(base_url=url, timeout=120, headers=headers) as client:
                for _ in range(n):
                    assert client.post("/api/v1/jobs", json=body).status_code == 201
        with ThreadPoolExecutor(threads) as pool:
            for i in range(threads):
                pool.submit(worker, count // threads + (1 if i < count % threads else 0))
        print(f"driver: {count} submits in {time.perf_counter() - t0:.1f} s", flush=True)
        if workload == "trivial":
            with httpx.Client(base_url=url, timeout=120, headers=headers) as client:
                wait_for(lambda: not client.get("/api/v1/jobs", params={"state": ["pending", "assigned", "running"], "limit": 1}).json(),
                         600, 0.25, "every job to end")
            print(f"driver: all ended after {time.perf_counter() - t0:.1f} s", flush=True)
    elif workload == "latency":
        with httpx.Client(base_url=url, timeout=30, headers=headers) as client:
            for _ in range(count):
                job = client.post("/api/v1/jobs", json={"command": ["sleep", "30"], "cores": 1}).json()
                while not job["pid"]:
                    time.sleep(0.001)
                    if db:  # watch the SQLite file: costs the controller nothing
                        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
                        job["pid"] = con.execute("SELECT pid FROM jobs WHERE id = ?", (job["id"],)).fetchone()[0]
                        con.close()
                    else:
                        job = client.get(f"/api/v1/jobs/{job['id']}").json()
                client.post(f"/api/v1/jobs/{job['id']}/cancel")
                while alive(job["pid"]):
                    time.sleep(0.002)
        print(f"driver: {count} jobs one at a time in {time.perf_counter() - t0:.1f} s", flush=True)


# -- the profiled controller ----------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("workload", choices=("submit", "trivial", "latency"))
    parser.add_argument("--count", type=int)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--no-cprofile", action="store_true", help="only the wall-clock timers (less distortion)")
    parser.add_argument("--poll", choices=("api", "db"), default="api",
                        help="latency: wait for the pid by GET /api/v1/jobs/{id} or by reading the SQLite file")
    parser.add_argument("--drive", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    count = args.count or {"submit": 1500, "trivial": 500, "latency": 30}[args.workload]
    if args.drive:
        drive(args.drive, args.workload, count, args.threads, args.db)
        return 0

    import uvicorn

    from heaven.config import ControllerSettings
    from heaven.control.app import create_app
    from heaven.control.bootstrap import ensure_admin, local_agents_join_token
    from heaven.store.engine import Store

    tmp = Path(tempfile.mkdtemp(prefix="heaven-profile-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    os.environ["HEAVEN_SCHEDULER_INTERVAL"] = "1.0"
    instrument()
    database_url = f"sqlite:///{tmp / 'heaven.db'}"
    store = Store(database_url)
    store.migrate()  # sign in as heaven up does: the administrator's token, and one for the agents to join with
    os.environ["HEAVEN_TOKEN"] = ensure_admin(store, time.time()).token["token"]
    os.environ["HEAVEN_AGENT_TOKEN"] = local_agents_join_token(store, time.time())
    store.dispose()
    app = create_app(ControllerSettings(database_url=database_url, port=port))
    count_statements(app.state.controller.store.engine)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical",
                                           timeout_graceful_shutdown=1))
    agents: list[subprocess.Popen] = []
    outcome: dict = {}

    def orchestrate() -> None:
        try:
            wait_for(lambda: server.started, 30, what="the controller to start")
            env = {**os.environ, "HEAVEN_URL": url}
            if args.workload in ("trivial", "latency"):
                for name, core in (("a0", "0"), ("a1", "1")):
                    agents.append(subprocess.Popen(
                        [*LAUNCH, "agent", "--name", name, "--controller", url, "--cores", core,
                         "--workdir", str(tmp / "agents")], env=env,
                        stdout=open(tmp / f"agent-{name}.log", "ab"), stderr=subprocess.STDOUT))
                with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {os.environ['HEAVEN_TOKEN']}"}) as c:
                    wait_for(lambda: sum(n["state"] == "up" for n in c.get("/api/v1/nodes").json()) == 2, 30,
                             what="the agents")
            TIMES.clear()
            MILESTONES.clear()
            STATEMENTS.clear()
            outcome["began"] = time.perf_counter()
            outcome["cpu0"] = time.process_time()
            subprocess.run([sys.executable, __file__, args.workload, "--count", str(count), "--threads",
                            str(args.threads), "--drive", url,
                            *(["--db", str(tmp / "heaven.db")] if args.poll == "db" else [])], check=True)
            outcome["elapsed"] = time.perf_counter() - outcome["began"]
            outcome["cpu"] = time.process_time() - outcome["cpu0"]
        except BaseException as exc:  # noqa: BLE001 - reported below
            outcome["error"] = exc
        finally:
            for a in agents:
                a.send_signal(signal.SIGUSR1)  # drained: its jobs are stopped too
            server.should_exit = True

    # The orchestrator starts before profiling is installed, so it is not profiled itself.
    threading.Thread(target=orchestrate, daemon=True).start()
    profiles: list[cProfile.Profile] = []
    if not args.no_cprofile:
        def start_in_thread(*_):
            p = cProfile.Profile()
            profiles.append(p)
            p.enable()
        threading.setprofile(start_in_thread)
        main_profile = cProfile.Profile()
        profiles.append(main_profile)
        main_profile.enable()
    server.run()
    if not args.no_cprofile:
        main_profile.disable()
        threading.setprofile(None)
    for a in agents:
        try:
            a.wait(10)
        except subprocess.TimeoutExpired:
            a.kill()
    if "error" in outcome:
        raise outcome["error"]

    print(f"\n{args.workload}: {count} jobs, {outcome['elapsed']:.1f} s wall, controller CPU {outcome['cpu']:.1f} s "
          f"({'with cProfile: everything is slower' if profiles else 'timers only'})")
    print("\nper-job milestones inside the controller (arrival of the request / call of the handler):")
    print(milestone_table())
    total = sum(n for n, _ in STATEMENTS.values())
    print(f"\nSQL statements: {total} in all, {total / count:.1f} per job (count, per job, total ms in the driver):")
    for key, (n, seconds) in sorted(STATEMENTS.items(), key=lambda kv: -kv[1][0])[:25]:
        print(f"  {n:7d} {n / count:6.2f} {1000 * seconds:9.1f}  {key}")
    print(f"\nwall-clock timers (ms){'':40s}   calls     mean      p50      p95      max    total s")
    for name, values in sorted(TIMES.items(), key=lambda kv: -sum(kv[1])):
        v = sorted(values)
        print(f"  {name:62s} {len(v):6d} {1000 * sum(v) / len(v):8.2f} {1000 * v[len(v) // 2]:8.2f} "
              f"{1000 * v[int(len(v) * 0.95)]:8.2f} {1000 * v[-1]:8.2f} {sum(v):10.2f}")
    if profiles:
        profiles = [p for p in profiles if p.getstats()]
        stats = pstats.Stats(profiles[0])
        for p in profiles[1:]:
            stats.add(p)
        out = tmp / f"controller-{args.workload}.prof"
        stats.dump_stats(out)
        for key in ("tottime", "cumulative"):
            buf = io.StringIO()
            pstats.Stats(str(out), stream=buf).strip_dirs().sort_stats(key).print_stats(args.top)
            text = buf.getvalue()
            print(f"\n--- top {args.top} by {key} (all controller threads summed; idle waits included) ---")
            print(text[text.find("   ncalls"):])
        print(f"profile: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
