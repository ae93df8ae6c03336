"""The store's history exported as SWF, and replayed by `heaven sim --from-events`."""
import json
import os
import subprocess
import sys

from heaven.sim.reader import read_swf
from heaven.store import jobs, nodes
from heaven.store.engine import Store, default_org_id
from heaven.store.export import swf_text


def _history(url: str) -> None:
    store = Store(url)
    store.migrate()
    with store.begin() as conn:
        org = default_org_id(conn)
        nodes.register(conn, {"name": "n1", "org_id": org, "cluster": "default", "endpoint": "", "kind": "heaven",
                              "core_offset": 0, "local_cores": [0, 1, 2, 3]}, 0.0, "test")
        for i, (cores, usage, state) in enumerate([(4, [100.0, 100.0], "succeeded"), (2, [200.0], "failed"),
                                                   (1, [], "succeeded")]):
            row = jobs.insert_job_row(conn, {"org_id": org, "name": f"j{i}", "command": ["true"], "cores": cores,
                                             "min_cores": 1, "memory_mb": 0, "storage_mb": 0, "gpus": 0,
                                             "priority": 0, "kind": "batch", "walltime": 60.0}, 100.0 + i)
            jobs.set_fields(conn, row["id"], state=state, started_at=110.0 + i, finished_at=130.0 + i, usage=usage)
        jobs.insert_job(conn, {"org_id": org, "name": "waiting", "command": ["true"], "cores": 1, "min_cores": 1,
                               "memory_mb": 0, "storage_mb": 0, "gpus": 0, "priority": 0, "kind": "batch"}, 105.0)
    store.dispose()


def test_history_is_a_valid_trace_with_real_usage(tmp_path):
    url = f"sqlite:///{tmp_path / 'h.db'}"
    _history(url)
    store = Store(url)
    with store.begin() as conn:
        text = swf_text(conn)
    path = tmp_path / "h.swf"
    path.write_text(text)
    trace = read_swf(path)
    assert trace.max_procs == 4 and len(trace.jobs) == 3  # the job still waiting is not history
    first = trace.jobs[0]
    assert (first.submit_time, first.wait_time, first.run_time, first.allocated_processors) == (0.0, 10.0, 20.0, 4)
    assert first.average_cpu_time == 5.0  # 1 core busy of 4, for 20 s: 5 s per processor
    assert trace.jobs[2].average_cpu_time == -1  # no samples: unknown


def test_sim_from_events_replays_the_history(tmp_path):
    db = tmp_path / "h.db"
    _history(f"sqlite:///{db}")
    run = subprocess.run([sys.executable, "-m", "heaven.launch", "sim", "--from-events", str(db), "--json",
                          "--policy", "fcfs"], capture_output=True, text=True, env=os.environ, timeout=120)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["metrics"]["jobs"] == 3
    missing = subprocess.run([sys.executable, "-m", "heaven.launch", "sim", "--from-events", str(tmp_path / "no.db")],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and "no such database file" in missing.stderr and "Traceback" not in missing.stderr
