"""A chaos run: controller replicas on one real PostgreSQL, real agents, a stream of short
jobs, and faults injected mid-load: kill -9 of the leader, of an agent (started again),
of PostgreSQL itself (started again). Then every accepted job must end, and the invariant
checker (heaven.store.invariants) reads the event log: none lost, none run twice, no core
double-booked, no quota exceeded.

Each job writes its own record of when its process began and ended (``witness/<job id>``),
so a second copy the event log could not see (two processes of one job at once) is caught
as well. Shared by tests/e2e/test_chaos.py (one round of each fault) and bench/bench_chaos.py
(minutes of rounds).
"""
from __future__ import annotations

import random
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from heaven.client.errors import ClientError
from heaven.client.http import Client
from heaven.store import invariants
from tests.live import LiveCluster, wait_for
from tests.postgres_server import PostgresServer

FAULTS = ("leader", "agent", "postgres")
ACTIVE = ("pending", "assigned", "running", "preempted", "lost")
ENDED = ("succeeded", "failed", "cancelled")
CORES = "0-1"  # each agent's cores: two agents book four cores of this (shared) machine
QUOTA = 3  # cores of the default cluster: less than the nodes have, so the quota binds


@dataclass(frozen=True)
class Recovery:
    fault: str
    seconds: float  # from the kill until a job submitted after it has started
    detail: str = ""


def _command(witness: Path, seconds: float) -> list[str]:
    """A job that records its own lifetime, also when it is stopped (SIGTERM ends the sleep at once)."""
    script = (f'mark() {{ echo "$1 $(date +%s.%N)" >> {witness}/$HEAVEN_JOB_ID; }}; mark begin; '
              f"trap 'mark end; exit 143' TERM INT; sleep {seconds:.2f} & wait $!; mark end")
    return ["sh", "-c", script, "job"]


def read_lifetimes(witness: Path) -> dict[int, list[tuple[float, float | None]]]:
    """job -> (began, ended or None) of each of its processes, from the jobs' own records."""
    out: dict[int, list[tuple[float, float | None]]] = {}
    for path in witness.iterdir():
        spans: list[tuple[float, float | None]] = []
        for line in path.read_text().splitlines():
            what, _, at = line.partition(" ")
            if what == "begin":
                spans.append((float(at), None))
            elif what == "end" and spans and spans[-1][1] is None:
                spans[-1] = (spans[-1][0], float(at))
        out[int(path.name)] = spans
    return out


class Chaos:
    def __init__(self, root: Path, server: PostgresServer, agents: int = 2, replicas: int = 2,
                 interval: float = 0.25, seconds: tuple[float, float] = (0.2, 1.0), seed: int = 13) -> None:
        self.server = server
        self.cluster = LiveCluster(root, database_url=server.new_database(), data_dir=str(root),
                                   scheduler_interval=0.5)
        self.witness = root / "witness"
        self.witness.mkdir()
        self.names = [f"n{i + 1}" for i in range(agents)]
        self.replica_count, self.interval, self.seconds = replicas, interval, seconds
        self.rng = random.Random(seed)
        self.accepted: list[int] = []
        self.refused = 0  # submissions answered with an error or not at all (not accepted: not counted)
        self.recoveries: list[Recovery] = []
        self.urls: list[str] = []
        self._stop = threading.Event()
        self._submitter: threading.Thread | None = None

    # -- setting up ------------------------------------------------------------------------
    def start(self) -> None:
        self.urls = [self.cluster.start_replica() for _ in range(self.replica_count)]
        self.client = Client(",".join(self.urls), token=self.cluster.token, timeout=10)
        for name in self.names:
            self._start_agent(name)
        default = next(c for c in self.client.clusters() if c["name"] == "default")
        self.client.set_cluster_quota(default["id"], quota_cores=QUOTA)
        self._submitter = threading.Thread(target=self._submit_forever, name="chaos-submitter", daemon=True)
        self._submitter.start()

    def _start_agent(self, name: str) -> None:
        self.cluster.start_agent(name, CORES, controller=",".join(self.urls),
                                 until=lambda: self._node_state(name) == "up")

    def _node_state(self, name: str) -> str | None:
        try:
            return self.client.node(name)["state"]
        except (ClientError, httpx.HTTPError):
            return None

    def _submit_forever(self) -> None:
        client = Client(",".join(self.urls), token=self.cluster.token, timeout=10)
        try:
            while not self._stop.is_set():
                self.submit(client)
                self._stop.wait(self.interval)
        finally:
            client.close()

    def submit(self, client: Client, **fields) -> int | None:
        """One short job; its id once accepted (a 201), else None."""
        seconds = self.rng.uniform(*self.seconds)
        try:
            job = client.submit(command=_command(self.witness, seconds), cores=1, **fields)
        except (ClientError, httpx.HTTPError):
            self.refused += 1
            return None
        self.accepted.append(job["id"])
        return job["id"]

    def load(self, seconds: float) -> None:
        """Let the stream of submissions run for ``seconds``."""
        self._stop.wait(seconds)

    # -- faults ----------------------------------------------------------------------------
    @staticmethod
    def leader_among(urls: list[str]) -> tuple[str, int] | None:
        """The replica answering /health as leader, and its epoch."""
        for url in urls:
            try:
                health = httpx.get(f"{url}/health", timeout=2).json()
            except (httpx.HTTPError, ValueError):
                continue
            if health.get("leader"):
                return url, health["epoch"]
        return None

    def inject(self, fault: str) -> Recovery:
        recovery = {"leader": self.kill_leader, "agent": self.kill_agent, "postgres": self.kill_postgres}[fault]()
        self.recoveries.append(recovery)
        return recovery

    def kill_leader(self) -> Recovery:
        url, epoch = wait_for(lambda: self.leader_among(self.urls), 30, what="a leader")
        proc = self.cluster.replicas[url]
        killed = time.monotonic()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        survivors = [u for u in self.urls if u != url]
        wait_for(lambda: (found := self.leader_among(survivors)) and found[1] > epoch, 60, 0.02, what="a new leader")
        took_over = time.monotonic() - killed
        seconds = self._until_a_job_starts(killed)
        self.cluster.start_replica(port=httpx.URL(url).port)  # back, as a follower
        return Recovery("leader", seconds, f"new leader after {took_over:.2f} s")

    def kill_agent(self, name: str | None = None) -> Recovery:
        """kill -9 of an agent; its jobs run on under their shims, and the agent started again
        adopts them. Recovered once a job pinned to its node starts."""
        name = name or self.rng.choice(self.names)
        proc = self.cluster.agents[name]
        killed = time.monotonic()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        self._start_agent(name)
        back = time.monotonic() - killed
        seconds = self._until_a_job_starts(killed, node=name)
        return Recovery("agent", seconds, f"{name} registered again after {back:.2f} s")

    def kill_postgres(self, outage: float = 1.0) -> Recovery:
        """kill -9 of PostgreSQL (postmaster and backends), down for ``outage`` seconds, then
        started again (crash recovery). Recovered once a job submitted after it has started."""
        killed = time.monotonic()
        self.server.kill()
        time.sleep(outage)
        self.server.restart()
        back = time.monotonic() - killed
        seconds = self._until_a_job_starts(killed)
        return Recovery("postgres", seconds, f"PostgreSQL accepting connections after {back:.2f} s")

    def _until_a_job_starts(self, since: float, node: str | None = None, timeout: float = 90) -> float:
        """Seconds from ``since`` until a job submitted now (retried until accepted) has started."""
        client = Client(",".join(self.urls), token=self.cluster.token, timeout=5)
        try:
            job_id = wait_for(lambda: self.submit(client, node=node), timeout, 0.05, what="a submission accepted")
            wait_for(lambda: self._state(client, job_id) in ("running", *ENDED), timeout, 0.02,
                     what=f"job {job_id} to start")
            return time.monotonic() - since
        finally:
            client.close()

    @staticmethod
    def _state(client: Client, job_id: int) -> str | None:
        try:
            return client.job(job_id)["state"]
        except (ClientError, httpx.HTTPError):
            return None

    # -- the end ---------------------------------------------------------------------------
    def drain(self, timeout: float = 120) -> dict[str, int]:
        """Stop submitting and wait until every accepted job has ended; returns the count per final state."""
        self._stop.set()
        if self._submitter is not None:
            self._submitter.join(30)
        wait_for(lambda: not self._active(), timeout, 0.2, what="every accepted job to end")
        return self._final_states()

    def _rows(self) -> dict[int, str]:
        from sqlalchemy import select

        from heaven.store.engine import Store
        from heaven.store.tables import jobs

        store = Store(self.cluster.database_url)
        try:
            with store.read() as conn:
                return dict(conn.execute(select(jobs.c.id, jobs.c.state)).all())
        finally:
            store.dispose()

    def _active(self) -> list[int]:
        rows = self._rows()
        return [j for j in self.accepted if rows.get(j) in ACTIVE]

    def _final_states(self) -> dict[str, int]:
        rows = self._rows()
        counts: dict[str, int] = {}
        for job_id in self.accepted:
            state = rows.get(job_id, "missing")
            counts[state] = counts.get(state, 0) + 1
        return counts

    def check(self) -> invariants.Report:
        return invariants.check_database(self.cluster.database_url, self.accepted, read_lifetimes(self.witness))

    def stop(self) -> None:
        self._stop.set()
        if self._submitter is not None:
            self._submitter.join(30)
        if getattr(self, "client", None) is not None:
            self.client.close()
        self.cluster.stop()
