"""What authentication costs a submission: the submit throughput of bench_control.py
with a token on every request, beside the same benchmark without any.

    .venv/bin/python bench/bench_auth.py                  # 3 rounds, ~2-4 minutes
    .venv/bin/python bench/bench_auth.py --quick          # 1 short round (docs not written)

Three controllers, each fresh, started as its own process on SQLite, with the same
16 client threads POSTing jobs that stay pending (no agent):

- ``no auth``: the last revision before people and tokens existed (``--baseline``,
  default db33243), checked out into a temporary worktree and run from there. It is
  the same submit path minus authentication and ownership, so the difference is what
  identity costs a submission (it is not only the token check: a job now also carries
  its owner and is scoped to an organization);
- ``API token``: this revision, every request carrying the administrator's API token
  (``hph_…``, what ``heaven login`` stores; one indexed lookup per request);
- ``access token``: this revision, every request carrying a JWT from the password login
  (signature check, plus the revocation and person lookups).

Rounds alternate the three, so a machine that gets busier during the run does not
favour one. Prints the rates and writes its section of docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine_md, md_table, write_section  # noqa: E402
from bench_control import ROOT, bench_throughput, console  # noqa: E402

from tests.live import LiveCluster  # noqa: E402

COMMAND = ".venv/bin/python bench/bench_auth.py"


class Baseline(LiveCluster):
    """A controller of an older revision, run from its own checkout, called without any token."""

    def __init__(self, root: Path, source: Path) -> None:
        super().__init__(root, scheduler_interval=1.0)
        # Run from the checkout: `python -m` imports from the working directory first.
        self.cwd = source
        self.token = "none"  # nothing to sign in to

    def auth_headers(self) -> dict:
        return {}


class WithAccessToken(LiveCluster):
    """This revision, called with a password login's JWT instead of an API token."""

    def start_controller(self) -> None:
        super().start_controller()
        person = {"username": "bencher", "email": "bencher@example.org", "password": "a long bench password"}
        assert self.http.post("/api/v1/auth/register", json=person).status_code in (200, 201)
        org = self.http.get("/api/v1/organizations").json()[0]
        anon = httpx.Client(base_url=self.url, timeout=30)
        try:
            answer = anon.post("/api/v1/auth/token", data={"username": person["username"],
                                                           "password": person["password"]})
            jwt = answer.json()["access_token"]
            joined = anon.post("/api/v1/organizations/join", json={"invite_code": org["invite_code"]},
                               headers={"Authorization": f"Bearer {jwt}"})
            assert joined.status_code in (200, 201), joined.text
        finally:
            anon.close()
        self.jwt = jwt

    def auth_headers(self) -> dict:
        return {"Authorization": f"Bearer {self.jwt}"}


def starter(kind: str, source: Path | None):
    def start(root: Path) -> LiveCluster:
        root.mkdir(parents=True, exist_ok=True)
        cluster = {"no auth": lambda: Baseline(root, source),
                   "API token": lambda: LiveCluster(root, scheduler_interval=1.0),
                   "access token": lambda: WithAccessToken(root, scheduler_interval=1.0)}[kind]()
        cluster.start_controller()
        return cluster
    return start


def checkout(revision: str, into: Path) -> Path:
    subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(into), revision], cwd=ROOT, check=True)
    return into


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default="db33243", help="the revision without authentication")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--submits", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.submits, args.seconds = 1, 600, 8.0
    kinds = ["no auth", "API token", "access token"]
    rates: dict[str, list[float]] = {k: [] for k in kinds}
    with tempfile.TemporaryDirectory(prefix="heaven-bench-auth-") as tmp:
        source = checkout(args.baseline, Path(tmp) / "baseline")
        try:
            for round_no in range(args.rounds):
                order = kinds[round_no % 3:] + kinds[:round_no % 3]
                for kind in order:
                    result = bench_throughput(Path(tmp) / f"{kind.replace(' ', '-')}-{round_no}", args.submits,
                                              args.threads, args.seconds, start=starter(kind, source))
                    if result["errors"]:
                        raise SystemExit(f"{kind}: {len(result['errors'])} submissions failed: {result['errors'][0]}")
                    rates[kind].append(result["rate"])
                    console.print(f"round {round_no + 1}/{args.rounds} {kind:>12}: {result['rate']:7.1f} submits/s")
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(source)], cwd=ROOT, check=False)
    base = statistics.median(rates["no auth"])
    rows = [[k, " / ".join(f"{r:.0f}" for r in rates[k]), f"{statistics.median(rates[k]):.0f}",
             "—" if k == "no auth" else f"{(statistics.median(rates[k]) / base - 1) * 100:+.1f} %"] for k in kinds]
    table = md_table(["requests carry", "submits/s per round", "median", "vs no auth"], rows)
    console.print(table)
    if not args.quick:
        md = (f"Submit throughput with and without authentication (`{COMMAND}`): {args.threads} client threads, "
              f"up to {args.submits} submissions or {args.seconds:.0f} s per run, {args.rounds} alternating rounds; "
              f"'no auth' is revision {args.baseline}, the last before people and tokens. The target is a "
              f"token on every request costing at most 10 %.\n\n{table}\n\n{machine_md(COMMAND)}\n")
        console.print(f"wrote {write_section('auth', md)}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
