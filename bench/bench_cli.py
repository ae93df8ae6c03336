"""How fast the CLI answers: wall time of ``heaven jobs`` and ``heaven --help``, start to
exit, against a running controller on loopback (target for ``heaven jobs``: 150 ms).

    .venv/bin/python bench/bench_cli.py              # 21 runs of each, ~1 minute
    .venv/bin/python bench/bench_cli.py --runs 5 --quick   # a look (docs not written)
    .venv/bin/python bench/bench_cli.py --baseline cd1836e # and that revision's heaven jobs beside

``--baseline REV`` checks REV out into a temporary worktree and times its ``heaven jobs``
(``python -m heaven.launch jobs`` with that tree first on the path) in the same rounds as
this tree's, run the same way: on a shared, busy machine the ratio means more than either
figure.

A controller is started on a fresh SQLite store with ``--jobs`` pending jobs (no agent),
then each command is run as a user runs it: the installed ``heaven`` entry point, a new
process each time, its output discarded. Runs alternate the commands, so a machine that
gets busier during the run favours none. ``python -c pass`` and ``python -c "import
heaven.launch"`` are timed the same way: what the interpreter alone costs, and what
importing the CLI adds. Prints median, p90 and min, and writes its section of
docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine_md, md_table, write_section  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.live import LiveCluster  # noqa: E402

COMMAND = ".venv/bin/python bench/bench_cli.py --runs 11 --baseline cd1836e"
TARGET_MS = 150.0
# Where one `heaven jobs` spends its time, in one process (milliseconds per phase, printed as JSON).
PHASES = r"""
import io, json, time
t0 = time.perf_counter()
import heaven.launch
t1 = time.perf_counter()
import typer._adapters  # what this Typer imports to coerce every parameter: pydantic
t2 = time.perf_counter()
from heaven.cli.common import client
jobs = client().jobs(None, 50)
t3 = time.perf_counter()
from rich.console import Console
from heaven.cli import render
Console(file=io.StringIO(), width=200).print(render.jobs_table(jobs))
t4 = time.perf_counter()
print(json.dumps({"import the CLI": t1 - t0, "Typer's parameter coercion (pydantic)": t2 - t1,
                  "httpx and the request": t3 - t2, "the table of 50 jobs": t4 - t3}))
"""


def timed(argv: list[str], env: dict, cwd: str) -> float:
    """Milliseconds from start to exit. ``cwd``: a directory without the code (``python -m``
    puts the working directory first on the path)."""
    began = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
    elapsed = (time.perf_counter() - began) * 1000
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.decode()[-500:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--jobs", type=int, default=50, help="pending jobs in the store (heaven jobs lists 50)")
    parser.add_argument("--quick", action="store_true", help="do not write docs/benchmarks.md")
    parser.add_argument("--baseline", help="also time this revision's heaven jobs (e.g. cd1836e)")
    args = parser.parse_args()
    baseline = Path(tempfile.mkdtemp(prefix="bench-cli-baseline-")) / "tree" if args.baseline else None
    if baseline is not None:
        subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(baseline), args.baseline], cwd=ROOT,
                       check=True)
    try:
        times = measure(args, baseline)
    finally:
        if baseline is not None:
            subprocess.run(["git", "worktree", "remove", "--force", str(baseline)], cwd=ROOT, check=False)
    report(args, times)


def measure(args, baseline: Path | None) -> dict[str, list[float]]:
    heaven = str(Path(sys.executable).with_name("heaven"))
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as root:
        cluster = LiveCluster(Path(root))
        try:
            cluster.start_controller()
            for _ in range(args.jobs):
                cluster.submit(["true"])
            env = {**os.environ, "HEAVEN_URL": cluster.url, "HEAVEN_TOKEN": cluster.token, "COLUMNS": "200"}
            commands = {
                "heaven jobs": [heaven, "jobs"],
                "heaven --help": [heaven, "--help"],
                "python -c pass": [sys.executable, "-c", "pass"],
                "python -c 'import heaven.launch'": [sys.executable, "-c", "import heaven.launch"],
            }
            if baseline is not None:
                commands["python -m heaven.launch jobs (this tree)"] = [sys.executable, "-m", "heaven.launch", "jobs"]
                commands[f"python -m heaven.launch jobs ({args.baseline})"] = \
                    ["env", f"PYTHONPATH={baseline}", sys.executable, "-m", "heaven.launch", "jobs"]
            for argv in commands.values():  # warm the page cache once
                timed(argv, env, root)
            times: dict[str, list[float]] = {name: [] for name in commands}
            for _ in range(args.runs):
                for name, argv in commands.items():
                    times[name].append(timed(argv, env, root))
                phases = subprocess.run([sys.executable, "-c", PHASES], env=env, cwd=root, capture_output=True,
                                        text=True, timeout=60, check=True)
                for name, seconds in json.loads(phases.stdout).items():
                    times.setdefault(f"phase: {name}", []).append(seconds * 1000)
        finally:
            cluster.stop()
    return times


def report(args, times: dict[str, list[float]]) -> None:
    rows = []
    for name, values in times.items():
        values.sort()
        p90 = values[min(len(values) - 1, int(round(0.9 * (len(values) - 1))))]
        rows.append([f"`{name}`", f"{statistics.median(values):.0f}", f"{p90:.0f}", f"{values[0]:.0f}"])
        print(f"{name:44s} median {statistics.median(values):6.0f} ms   p90 {p90:6.0f} ms   min {values[0]:6.0f} ms")
    jobs = statistics.median(times["heaven jobs"])
    verdict = "met" if jobs <= TARGET_MS else "not met"
    print(f"heaven jobs: {jobs:.0f} ms median, target {TARGET_MS:.0f} ms: {verdict}")
    if args.quick:
        return
    table = md_table(["command", "median ms", "p90 ms", "min ms"], rows)
    body = (f"## CLI start-to-exit (`bench/bench_cli.py`)\n\n"
            f"Wall time of each command as a new process, {args.runs} alternating runs, against a controller on "
            f"loopback holding {args.jobs} pending jobs. Target for `heaven jobs`: {TARGET_MS:.0f} ms "
            f"(**{verdict}**: {jobs:.0f} ms median). The interpreter's own start and the CLI's imports are "
            f"timed alongside, and the phases of one `heaven jobs` in one process (`phase:` rows). "
            f"This Typer (0.29) imports pydantic to coerce parameters, which no lazy import of ours avoids.\n\n"
            f"{table}\n\n{machine_md(COMMAND)}\n")
    print(f"wrote {write_section('cli', body)}")


if __name__ == "__main__":
    main()
