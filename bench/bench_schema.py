"""A long stateful schemathesis run over every operation of the controller's OpenAPI:
how many operations it reached, how many calls it made, and how many of them were
server errors (5xx) or broke the schema (the target: none).

    .venv/bin/python bench/bench_schema.py                 # 10 minutes (docs written)
    .venv/bin/python bench/bench_schema.py --seconds 1800  # longer
    .venv/bin/python bench/bench_schema.py --quick         # ~30 s smoke run (docs not written)

One real controller process on loopback (SQLite in a temp dir), set up as the tests
do: the bootstrap administrator (owner of the default organization, with a node
registered over the API and a job), and a person, ``fuzzer``, who signs in with a
password, is an admin of the default organization and the owner of one of their own
(with a cluster and a join token). Every phase of schemathesis runs (examples,
coverage, fuzzing, stateful) over every operation, the tenancy routes included,
repeated until the time is up; the stateful phase chains the calls along the links
schemathesis infers from the schema (an id a POST answered, used by the GET, PATCH
and DELETE of that path). Each call carries the credential its route takes (see
``Credentials``). The run is kept on this machine as tests/fuzz_target.py says.

Counted from the answers themselves, not from the checks: calls, answers by status
class, 5xx; and, from the checks, each distinct failure (check, operation, title).
Prints the figures and writes the ``schema`` section of docs/benchmarks.md;
docs/api-conformance.md says what the run found and what was fixed.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import schemathesis
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from schemathesis import engine
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine_md, md_table, write_section  # noqa: E402

from tests.fuzz_target import keep_local, narrow_endpoints  # noqa: E402
from tests.live import LiveCluster  # noqa: E402

COMMAND = ".venv/bin/python bench/bench_schema.py"
SEED = 20261202
# Server errors and conformance of every answer (status, content type, body, headers), and,
# in the stateful phase, that what a POST made can be read and what a DELETE removed is gone.
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance", "response_headers_conformance", "use_after_free",
          "ensure_resource_availability")
PASSWORD = "fuzzer-Password-123"
AGENT_PATH = "/api/v1/agents/{name}/"
console = Console(width=None if sys.stdout.isatty() else 150)


class Setup:
    """The controller and the people, organizations, node and job the run starts from."""

    def __init__(self, root: Path) -> None:
        self.cluster = keep_local(LiveCluster(root, auth_rate_per_minute=100_000, write_rate_per_minute=0,
                                              access_token_minutes=24 * 60))
        self.http = self.cluster.http

    def start(self) -> None:
        cluster, http = self.cluster, self.http
        cluster.start_controller()
        node = {"name": "fuzz-node", "endpoint": "", "local_cores": [0, 1], "memory_mb": 1000}
        assert http.post("/api/v1/agents/register", json=node).status_code == 200
        cluster.submit(["true"])
        made = http.post("/api/v1/auth/register", json={"username": "fuzzer", "email": "fuzzer@example.org",
                                                        "password": PASSWORD}, headers={"Authorization": ""})
        assert made.status_code == 201, made.text
        self.person = self.sign_in()
        me = {"Authorization": f"Bearer {self.person}"}
        default = http.get("/api/v1/organizations").json()[0]
        joined = http.post("/api/v1/organizations/join", json={"invite_code": default["invite_code"]}, headers=me)
        assert joined.status_code == 200, joined.text
        promoted = http.patch(f"/api/v1/organizations/{default['id']}/members/{made.json()['id']}",
                              json={"role": "admin"})
        assert promoted.status_code == 200, promoted.text
        own = http.post("/api/v1/organizations", json={"name": "fuzz-org"}, headers=me)
        assert own.status_code == 201, own.text
        cluster_made = http.post("/api/v1/clusters", json={"org": str(own.json()["id"]), "name": "fuzz-cluster",
                                                           "quota_cores": 4}, headers=me)
        assert cluster_made.status_code == 201, cluster_made.text
        token = http.post(f"/api/v1/organizations/{own.json()['id']}/join-tokens", json={"name": "fuzz"}, headers=me)
        assert token.status_code == 201, token.text
        api_token = http.post("/api/v1/auth/tokens", json={"name": "fuzz"}, headers=me)
        assert api_token.status_code == 201, api_token.text

    def sign_in(self) -> str:
        """A fresh access token (JWT) of the fuzzer, from the password login."""
        login = self.http.post("/api/v1/auth/token", data={"username": "fuzzer", "password": PASSWORD},
                               headers={"Authorization": ""})
        assert login.status_code == 200, login.text
        return login.json()["access_token"]

    def stop(self) -> None:
        self.cluster.stop()


def credentials(setup: Setup) -> type:
    """The credential of each call, as the real callers hold them: the fuzzer's access token
    on the API; on agent registration the administrator's join token; on a node's agent
    routes the credential its registration answered (the fuzzer's own registrations are
    remembered by ``remember_nodes``), else fuzz-node's. A logout gets a login of its
    own, so that it ends that session and not the run's."""
    nodes = setup.http.auth.nodes  # the Identity of tests/identity.py: node name -> credential

    class Credentials:
        def get(self, case, context):
            if case.path == "/api/v1/auth/logout":
                return setup.sign_in()
            if case.path == "/api/v1/agents/register":
                return setup.cluster.join_token
            if case.path.startswith(AGENT_PATH):
                return nodes.get(str((case.path_parameters or {}).get("name")), nodes["fuzz-node"])
            return setup.person

        def set(self, case, data, context):
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    return Credentials


def remember_nodes(setup: Setup) -> None:
    nodes = setup.http.auth.nodes

    @schemathesis.hook
    def after_call(context, case, response):
        if case.path == "/api/v1/agents/register" and response.status_code == 200:
            body = response.json()
            nodes[body["name"]] = body["credential"]


@dataclass
class Tally:
    """What the run did, counted from its recorders."""

    operations: list[str]
    calls: Counter = field(default_factory=Counter)  # phase -> calls answered
    statuses: Counter = field(default_factory=Counter)  # "2xx", "4xx", "5xx"
    answered: Counter = field(default_factory=Counter)  # operation -> calls answered
    succeeded: set = field(default_factory=set)  # operations that answered a 2xx at least once
    server_errors: Counter = field(default_factory=Counter)  # (operation, status) -> count
    failures: dict = field(default_factory=dict)  # (check, operation, title) -> an example
    failure_counts: Counter = field(default_factory=Counter)
    network_errors: int = 0
    scenarios: int = 0  # stateful scenarios (each a chain of calls)
    chained: int = 0  # stateful calls whose input came from an earlier answer along a link
    links: int = 0
    engine_errors: list = field(default_factory=list)

    def add(self, phase: str, recorder) -> None:
        if phase == "stateful":
            self.scenarios += 1
        for case_id, interaction in recorder.interactions.items():
            node = recorder.cases.get(case_id)
            label = node.value.operation.label if node else "?"
            if interaction.response is None:
                self.network_errors += 1
                continue
            status = interaction.response.status_code
            self.calls[phase] += 1
            self.answered[label] += 1
            self.statuses[f"{status // 100}xx"] += 1
            if 200 <= status < 300:
                self.succeeded.add(label)
            if status >= 500:
                self.server_errors[(label, status)] += 1
            if phase == "stateful" and node is not None and node.is_transition_applied:
                self.chained += 1
        for case_id, checks in recorder.checks.items():
            for check in checks:
                if check.status == Status.FAILURE:
                    case = recorder.cases[case_id].value
                    key = (check.name, case.operation.label, check.failure_info.failure.title)
                    self.failure_counts[key] += 1
                    self.failures.setdefault(key, f"{case.method} {case.formatted_path} query={case.query} "
                                                  f"body={case.body!r}: {check.failure_info.failure.message}"[:600])

    @property
    def total(self) -> int:
        return sum(self.calls.values())


def config(base_url: str, seconds: int, seed: int, max_examples: int) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict({
        "seed": seed, "base-url": base_url, "request-timeout": 10, "workers": 1, "max-time": seconds,
        "continue-on-failure": True,
        "generation": {"max-examples": max_examples, "no-shrink": True, "database": "none"},
        "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
    })


def run(setup: Setup, seconds: int, seed: int, max_examples: int) -> Tally:
    spec = narrow_endpoints(httpx.get(f"{setup.cluster.url}/openapi.json").json())
    schema = schemathesis.openapi.from_dict(spec, config=config(setup.cluster.url, seconds, seed, max_examples))
    schema.auth(refresh_interval=None)(credentials(setup))
    remember_nodes(setup)
    tally = Tally(sorted(op.ok().label for op in schema.get_all_operations()))
    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
               TextColumn("{task.fields[figures]}"))
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("starting", total=seconds, figures="")
        started = time.monotonic()
        for event in engine.from_schema(schema).execute():
            if isinstance(event, events.PhaseStarted):
                if isinstance(event.payload, events.StatefulPhasePayload):
                    tally.links = max(tally.links, event.payload.transitions_total)
                progress.update(task, description=f"{event.phase.name.value:<16}")
            elif isinstance(event, events.ScenarioFinished):
                tally.add(event.phase.value, event.recorder)
            elif isinstance(event, events.NonFatalError):
                tally.engine_errors.append(f"{event.label}: {event.info.title}: {event.info.message}"[:400])
            elif isinstance(event, events.FatalError):
                tally.engine_errors.append(f"fatal: {event.exception!r}"[:400])
            progress.update(task, completed=min(seconds, time.monotonic() - started),
                            figures=f"{tally.total} calls, {len(tally.answered)}/{len(tally.operations)} operations, "
                                    f"{sum(tally.server_errors.values())} 5xx, {len(tally.failures)} failures")
    return tally


def figures_table(tally: Tally, seconds: float) -> str:
    rows = [
        ["run length", f"{seconds:.0f} s"],
        ["operations in the schema", len(tally.operations)],
        ["operations exercised (answered)", len(tally.answered)],
        ["operations that answered 2xx", len(tally.succeeded)],
        ["calls", tally.total],
        ["calls by phase", ", ".join(f"{phase} {n}" for phase, n in sorted(tally.calls.items()))],
        ["stateful scenarios / links inferred", f"{tally.scenarios} / {tally.links}"],
        ["stateful calls along a link", tally.chained],
        ["answers by class", ", ".join(f"{k} {v}" for k, v in sorted(tally.statuses.items()))],
        ["**server errors (5xx)**", f"**{sum(tally.server_errors.values())}**"],
        ["**conformance failures (distinct)**", f"**{len(tally.failures)}**"],
        ["network errors (no answer)", tally.network_errors],
    ]
    return md_table(["", ""], rows)


def report(tally: Tally) -> None:
    for (label, status), n in sorted(tally.server_errors.items()):
        console.print(f"[red]5xx[/red] {status} x{n}: {label}")
    for key, example in sorted(tally.failures.items()):
        console.print(f"[red]failure[/red] x{tally.failure_counts[key]} {key[0]} on {key[1]}: {key[2]}\n    {example}")
    for error in tally.engine_errors:
        console.print(f"[yellow]engine[/yellow] {error}")
    unanswered = [op for op in tally.operations if op not in tally.answered]
    if unanswered:
        console.print(f"never answered: {', '.join(unanswered)}")
    never_2xx = [op for op in tally.operations if op in tally.answered and op not in tally.succeeded]
    if never_2xx:
        console.print(f"answered, never 2xx: {', '.join(never_2xx)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=600, help="how long schemathesis runs (default 600)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--max-examples", type=int, default=50, help="examples per operation and pass")
    parser.add_argument("--quick", action="store_true", help="a ~30 s run; docs/benchmarks.md is not written")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.max_examples = 30, 10
    with tempfile.TemporaryDirectory(prefix="heaven-bench-schema-") as tmp:
        setup = Setup(Path(tmp))
        try:
            setup.start()
            began = time.monotonic()
            tally = run(setup, args.seconds, args.seed, args.max_examples)
            elapsed = time.monotonic() - began
        finally:
            setup.stop()
    load = Path("/proc/loadavg").read_text().split()[:3]
    table = figures_table(tally, elapsed)
    console.print(table)
    console.print(f"load average: {' '.join(load)}")
    report(tally)
    if not args.quick:
        md = (f"## API conformance: a long stateful schemathesis run (`bench/bench_schema.py`)\n\n"
              f"A stateful schemathesis run over every operation of the OpenAPI (`{COMMAND}`): "
              f"{args.seconds} s, seed {args.seed}, up to {args.max_examples} examples per operation and pass, "
              f"checks {', '.join(CHECKS)}; see docs/api-conformance.md. The target is 0 server errors and "
              f"0 conformance failures. Load average at the end: {' '.join(load)}.\n\n{table}\n\n"
              f"{machine_md(COMMAND)}\n")
        console.print(f"wrote {write_section('schema', md)}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
