"""A live system for end-to-end tests: a real controller and real agents, each
its own process talking HTTP on loopback, with real jobs pinned to real cores.

Its API calls are signed in as the administrator ``heaven up`` would make (the
owner of the default organization), with the same bootstrap, before the
controller first starts; ``token`` is that API token, for CLI runs."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.identity import Identity

LAUNCH = [sys.executable, "-m", "heaven.launch"]
# Events that are no transition of their job: a changed reason, what a run used when it ended.
NOT_TRANSITIONS = ("wait", "usage")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float = 15.0, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def cpus_allowed(pid: int) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Cpus_allowed_list:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no Cpus_allowed_list for {pid}")


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


class LiveCluster:
    def __init__(self, root: Path, database_url: str | None = None, host: str = "127.0.0.1", **settings) -> None:
        """``host``: where the controller listens (a test's own network namespaces reach it there)."""
        self.root = root
        self.host = host
        self.port = free_port()
        self.url = f"http://{host}:{self.port}"
        self.database_url = database_url or f"sqlite:///{root / 'heaven.db'}"
        # Jobs of these tests read and write the test's own private directory, so they run with
        # the agent's identity (the operator's explicit choice) unless a test passes run_as.
        self.env = {**os.environ, "HEAVEN_URL": self.url, "HEAVEN_SCHEDULER_INTERVAL": "0.5", "HEAVEN_RUN_AS": "root",
                    **{f"HEAVEN_{k.upper()}": str(v) for k, v in settings.items()}}
        self.controller: subprocess.Popen | None = None
        self.agents: dict[str, subprocess.Popen] = {}
        self.gateways: list[subprocess.Popen] = []
        self.replicas: dict[str, subprocess.Popen] = {}  # URL -> further controllers of the same database
        self.http = httpx.Client(base_url=self.url, timeout=30)
        self.token: str | None = None
        self.join_token: str | None = None
        self.cwd: Path | None = None  # where the controller runs (`-m` imports from there first)

    def sign_in(self) -> None:
        """The administrator's API token for the API, and a join token its agents register with."""
        from heaven.control.bootstrap import ensure_admin, local_agents_join_token
        from heaven.store.engine import Store

        store = Store(self.database_url)
        try:
            store.migrate()
            self.token = ensure_admin(store, time.time()).token["token"]
            self.join_token = local_agents_join_token(store, time.time())
        finally:
            store.dispose()
        self.env["HEAVEN_AGENT_TOKEN"] = self.join_token
        self.http.auth = Identity(self.token, self.join_token)

    def auth_headers(self) -> dict:
        """The administrator's Authorization header, for clients of one's own (benchmarks)."""
        return {"Authorization": f"Bearer {self.token}"}

    # -- processes ---------------------------------------------------------------------
    def start_controller(self) -> None:
        if self.token is None:
            self.sign_in()
        log = open(self.root / "controller.log", "ab")
        self.controller = subprocess.Popen([*LAUNCH, "controller", "--host", self.host, "--port", str(self.port),
                                            "--database", self.database_url],
                                           env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.cwd)
        wait_for(self._healthy, 30, what="the controller to answer /health")

    def _healthy(self, url: str | None = None, proc: subprocess.Popen | None = None,
                 log_name: str = "controller.log") -> bool:
        proc = proc or self.controller
        if proc.poll() is not None:
            tail = (self.root / log_name).read_text()[-2000:]
            raise AssertionError(f"the controller exited with {proc.returncode}:\n{tail}")
        try:
            return httpx.get(f"{url or self.url}/health", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def start_replica(self, port: int | None = None) -> str:
        """One more controller of the same (PostgreSQL) database, on its own port (or ``port``:
        a killed replica's, started again); returns its URL."""
        if self.token is None:
            self.sign_in()
        port = port or free_port()
        url, log_name = f"http://127.0.0.1:{port}", f"controller-{port}.log"
        log = open(self.root / log_name, "ab")
        self.replicas[url] = proc = subprocess.Popen(
            [*LAUNCH, "controller", "--port", str(port), "--database", self.database_url],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.cwd)
        wait_for(lambda: self._healthy(url, proc, log_name), 60, what=f"the replica at {url} to answer /health")
        return url

    def kill_replica(self, url: str) -> None:
        self.replicas[url].send_signal(signal.SIGKILL)
        self.replicas[url].wait()

    def kill_controller(self) -> None:
        self.controller.send_signal(signal.SIGKILL)
        self.controller.wait()

    def start_agent(self, name: str, cores: str, mode: str = "auto", cluster: str = "default",
                    join_token: str | None = None, until=None, wrap: tuple[str, ...] = (),
                    host: str = "127.0.0.1", controller: str | None = None) -> None:
        """``join_token``: another organization's (default: the administrator's own);
        ``until``: what tells that it registered (default: its node is up, as the administrator sees it);
        ``wrap``: a command the agent runs under (``ip netns exec NS``), ``host`` its own API's address;
        ``controller``: the URL(s) it follows (default: this cluster's first controller)."""
        log = open(self.root / f"agent-{name}.log", "ab")
        env = self.env if join_token is None else {**self.env, "HEAVEN_AGENT_TOKEN": join_token}
        self.agents[name] = subprocess.Popen(
            [*wrap, *LAUNCH, "agent", "--name", name, "--controller", controller or self.url, "--cores", cores,
             "--mode", mode, "--cluster", cluster, "--host", host,
             "--workdir", str(self.root / "agents")], env=env, stdout=log, stderr=subprocess.STDOUT)
        wait_for(until or (lambda: self.node(name) and self.node(name)["state"] == "up"), 30,
                 what=f"agent {name} to register")

    def start_gateway(self, workers: int = 1, **settings) -> httpx.Client:
        """`heaven gateway` on a free port as the administrator, until it has ``workers`` workers;
        ``settings``: environment variables (e.g. MAX_CPU_THRESHOLD="15"). Returns a client of it."""
        port = free_port()
        log = open(self.root / f"gateway-{len(self.gateways)}.log", "ab")
        env = {**self.env, "HEAVEN_TOKEN": self.token, **{k: str(v) for k, v in settings.items()}}
        proc = subprocess.Popen([*LAUNCH, "gateway", "--port", str(port), "--controller", self.url], env=env,
                                stdout=log, stderr=subprocess.STDOUT)
        self.gateways.append(proc)
        gateway = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=None)  # calls may be long

        def serving() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"the gateway exited with {proc.returncode}:\n{log.name}")
            try:
                return gateway.get("/status").json()["worker_count"] >= workers
            except httpx.HTTPError:
                return False
        wait_for(serving, 60, 0.1, what=f"the gateway to have {workers} workers")
        return gateway

    def stop(self) -> None:
        """Drain the agents (SIGUSR1: their jobs are stopped; SIGTERM would leave them running
        under their shims) and stop the controller."""
        for proc in self.gateways:  # first: a gateway stops its workers through the controller
            if proc.poll() is None:
                proc.terminate()
        for proc in self.gateways:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        for proc in [*self.agents.values(), self.controller, *self.replicas.values()]:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.send_signal(signal.SIGUSR1 if proc in self.agents.values() else signal.SIGTERM)
        for proc in [*self.agents.values(), self.controller, *self.replicas.values()]:
            if proc is not None:
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
        self.http.close()

    # -- API shortcuts ---------------------------------------------------------------------
    def node(self, name: str) -> dict | None:
        answer = self.http.get(f"/api/v1/nodes/{name}")
        return answer.json() if answer.status_code == 200 else None

    def submit(self, command: list[str], **fields) -> dict:
        answer = self.http.post("/api/v1/jobs", json={"command": command, **fields})
        assert answer.status_code == 201, answer.text
        return answer.json()

    def job(self, job_id: int) -> dict:
        return self.http.get(f"/api/v1/jobs/{job_id}").json()

    def wait_state(self, job_id: int, *states: str, timeout: float = 20) -> dict:
        return wait_for(lambda: (j := self.job(job_id))["state"] in states and j, timeout,
                        what=f"job {job_id} to reach {states}")

    def wait_pid(self, job_id: int, timeout: float = 20) -> dict:
        return wait_for(lambda: (j := self.job(job_id))["state"] == "running" and j["pid"] and j, timeout,
                        what=f"job {job_id} to run with a pid")

    def events(self, **params) -> list[dict]:
        return self.http.get("/api/v1/events", params={"limit": 10000, **params}).json()

    def every_event(self) -> list[dict]:
        """The whole event log, read from the store: the API shows each caller only their organizations'."""
        from heaven.store import events
        from heaven.store.engine import Store

        store = Store(self.database_url)
        try:
            with store.read() as conn:
                return events.since(conn, 0, limit=100_000)
        finally:
            store.dispose()

    def actions(self, job_id: int) -> list[str]:
        """A job's transitions: its events minus those that are none (NOT_TRANSITIONS)."""
        return [e["action"] for e in self.events(job=job_id) if e["action"] not in NOT_TRANSITIONS]
