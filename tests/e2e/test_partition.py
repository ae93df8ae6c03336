"""Agents on hosts of their own (network namespaces, tests/e2e/netns.py) cut off from the
controller and healed: within the grace the job just continues; past it, the job's shim
stops it, and only then does the controller requeue it elsewhere, so it never runs twice."""
import threading
from pathlib import Path

import pytest

from tests.e2e.netns import Network, unavailable
from tests.e2e.test_agent_restart import parent_of
from tests.live import NOT_TRANSITIONS, LiveCluster, alive, wait_for

pytestmark = pytest.mark.slow

NODE_TIMEOUT = 2


@pytest.fixture
def network():
    why = unavailable()
    if why is not None:
        pytest.skip(why)
    made = Network()
    clusters: list[LiveCluster] = []
    try:
        yield made, clusters
    finally:
        for cluster in clusters:  # its agents first, while their links still exist
            for name in made.namespaces:
                made.heal(name)
            cluster.stop()
        made.remove()


def start(network, tmp_path, names: list[str], grace: float) -> LiveCluster:
    """A controller on the bridge and one agent of one core per name, each in its namespace
    (started together: each start is a whole interpreter's)."""
    net, clusters = network
    cluster = LiveCluster(tmp_path, host=net.host, node_timeout=NODE_TIMEOUT,
                          agent_disconnect_grace=grace, agent_stop_grace=1)
    clusters.append(cluster)
    cluster.start_controller()
    for core, name in enumerate(names):
        address = net.add(name)
        cluster.start_agent(name, str(core), "affinity", wrap=net.wrap(name), host=address, until=lambda: True)
    for name in names:
        wait_for(lambda: (node := cluster.node(name)) and node["state"] == "up", 30, what=f"agent {name} to register")
    return cluster


def recording_job(tmp_path):
    """A job that writes when each copy of it starts and is stopped, and ends with 7 when told."""
    marker, go = tmp_path / "runs", tmp_path / "go"
    script = (f'echo "start $(date +%s.%N) $$" >> {marker}; '
              f"trap 'echo \"end $(date +%s.%N)\" >> {marker}; exit 143' TERM; "
              f"while [ ! -e {go} ]; do sleep 0.05; done; exit 7")
    return marker, go, ["sh", "-c", script]


class CopyCounter:
    """Samples /proc every 50 ms for live copies of the job's shell (its command names the
    marker file): the most ever seen at once."""

    def __init__(self, marker: Path) -> None:
        self.needle = str(marker).encode()
        self.most = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _copies(self) -> int:
        count = 0
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if self.needle in (entry / "cmdline").read_bytes() and alive(int(entry.name)):
                        count += 1
                except OSError:
                    pass
        return count

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.most = max(self.most, self._copies())

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.most


def node_moves(cluster, name: str) -> list[dict]:
    return [e for e in cluster.every_event() if e["node"] == name and e["action"].startswith("node_")]


def test_healed_within_the_grace_the_job_keeps_its_pid_and_runs_once(network, tmp_path):
    cluster = start(network, tmp_path, ["n1"], grace=20)
    net = network[0]
    marker, go, command = recording_job(tmp_path)
    job = cluster.submit(command)
    pid = cluster.wait_pid(job["id"])["pid"]
    shim = parent_of(pid)

    net.partition("n1")
    assert not net.reaches("n1", cluster.port), "the partition must be real"
    wait_for(lambda: cluster.node("n1")["state"] == "disconnected", 15, what="n1 to be marked disconnected")
    held = cluster.job(job["id"])
    assert held["state"] == "running" and held["pid"] == pid and alive(pid), "the job keeps running and its cores"
    net.heal("n1")
    assert net.reaches("n1", cluster.port)
    wait_for(lambda: cluster.node("n1")["state"] == "up", 20, what="n1 to come back up")

    assert alive(pid) and parent_of(pid) == shim, "the same process, under the same shim"
    again = cluster.job(job["id"])
    assert again["state"] == "running" and again["pid"] == pid and again["runs"] == 1, again
    go.touch()
    done = cluster.wait_state(job["id"], "failed")
    assert done["exit_code"] == 7, "its real exit code"
    assert [line.split()[0] for line in marker.read_text().splitlines()] == ["start"], "ran once, never stopped"
    actions = cluster.actions(job["id"])
    assert actions.count("start") == 1 and "lose" not in actions and "requeue" not in actions, actions
    assert [e["action"] for e in node_moves(cluster, "n1")] == ["node_disconnected", "node_up"]


def test_past_the_grace_the_shim_stops_it_and_only_then_it_runs_elsewhere(network, tmp_path):
    grace, stop_grace = 3, 1
    cluster = start(network, tmp_path, ["n1", "n2"], grace=grace)
    net = network[0]
    marker, go, command = recording_job(tmp_path)
    copies = CopyCounter(marker)
    job = cluster.submit(command)
    first = cluster.wait_pid(job["id"])
    cut, other = first["node"], {"n1": "n2", "n2": "n1"}[first["node"]]

    net.partition(cut)
    second = wait_for(lambda: (j := cluster.job(job["id"]))["node"] == other and j["state"] == "running" and j["pid"]
                      and j, 30, what="the job to run again on the other node")
    assert not alive(first["pid"]), "stopped on the cut node before it ran on the other"
    silent_since = cluster.node(cut)["last_heartbeat"]  # still cut off: its last report got through then
    net.heal(cut)
    wait_for(lambda: cluster.node(cut)["state"] == "up", 20, what="the cut node to come back up")
    go.touch()
    done = cluster.wait_state(job["id"], "failed")
    most = copies.stop()

    assert done["exit_code"] == 7 and done["runs"] == 2 and done["pid"] == second["pid"]
    assert most == 1, f"{most} copies of the job ran at once"
    lines = [line.split() for line in marker.read_text().splitlines()]
    assert [fields[0] for fields in lines] == ["start", "end", "start"], lines
    first_end, second_start = float(lines[1][1]), float(lines[2][1])
    assert first_end < second_start

    events = [e for e in cluster.every_event() if e["job"] == job["id"] and e["action"] not in NOT_TRANSITIONS]
    assert [e["action"] for e in events] == ["submit", "assign", "start", "lose", "requeue", "assign", "start", "fail"]
    lose = events[3]
    assert lose["node"] == cut and first_end < lose["ts"], "requeued only after its shim had stopped it"
    assert lose["ts"] >= silent_since + NODE_TIMEOUT + grace + stop_grace, "requeued only after the grace"
    moves = node_moves(cluster, cut)
    assert [e["action"] for e in moves] == ["node_disconnected", "node_down", "node_up"]
    assert moves[0]["ts"] < lose["ts"] and moves[1]["ts"] <= lose["ts"]
    assert events[5]["node"] == other
