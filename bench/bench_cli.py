"""How fast the CLI answers: wall time of ``heaven jobs`` and ``heaven --help``, start to
exit, against a running controller on loopback (target for ``heaven jobs``: 150 ms).
A plain ``heaven jobs`` is answered by heaven.cli.quick without the Typer CLI; ``python -m
heaven.launch jobs`` (the Typer CLI, as every other command runs) is timed beside it.

    .venv/bin/python bench/bench_cli.py              # 21 runs of each, ~1 minute
    .venv/bin/python bench/bench_cli.py --runs 5 --quick   # a look (docs not written)
    .venv/bin/python bench/bench_cli.py --baseline cd1836e # and that revision's heaven jobs beside

``--baseline REV`` checks REV out into a temporary worktree and times its ``heaven jobs``
(``python -m heaven.entry jobs``, or ``heaven.launch`` in a tree without heaven/entry.py,
with that tree first on the path) in the same rounds as this tree's, run the same way: on
a shared, busy machine the ratio means more than either figure.

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

COMMAND = ".venv/bin/python bench/bench_cli.py --runs 11 --baseline 63d9153"
TARGET_MS = 150.0
# Where one `heaven jobs` spends its time, in one process (milliseconds per phase, printed as JSON).
PHASES = r"""
import io, json, time
t0 = time.perf_counter()
from heaven.cli import quick, listing
t1 = time.perf_counter()
from heaven.client.quick import QuickClient
t2 = time.perf_counter()
from heaven.client.settings import ClientSettings
chosen = ClientSettings()
jobs = QuickClient(chosen.url, token=chosen.token).jobs(None, 50)
t3 = time.perf_counter()
listing.write_jobs(jobs, False, io.StringIO())
t4 = time.perf_counter()
print(json.dumps({"import the listing (heaven.cli.quick)": t1 - t0, "import http.client (heaven.client.quick)": t2 - t1,
                  "the request": t3 - t2, "the plain table of 50 jobs": t4 - t3}))
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
        load_before = Path("/proc/loadavg").read_text().split()[:3]
        times = measure(args, baseline)
        load = f"{' '.join(load_before)} before, {' '.join(Path('/proc/loadavg').read_text().split()[:3])} after"
    finally:
        if baseline is not None:
            subprocess.run(["git", "worktree", "remove", "--force", str(baseline)], cwd=ROOT, check=False)
            try:
                baseline.parent.rmdir()  # the temporary directory it was made in (empty once removed)
            except OSError:
                pass
    report(args, times, load)


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
                "heaven jobs --json": [heaven, "jobs", "--json"],
                "python -m heaven.launch jobs (the Typer CLI)": [sys.executable, "-m", "heaven.launch", "jobs"],
                "heaven --help": [heaven, "--help"],
                "python -c pass": [sys.executable, "-c", "pass"],
                "python -c 'import heaven.launch'": [sys.executable, "-c", "import heaven.launch"],
            }
            if baseline is not None:
                module = "heaven.entry" if (baseline / "heaven" / "entry.py").exists() else "heaven.launch"
                commands["python -m heaven.entry jobs (this tree)"] = [sys.executable, "-m", "heaven.entry", "jobs"]
                commands[f"python -m {module} jobs ({args.baseline})"] = \
                    ["env", f"PYTHONPATH={baseline}", sys.executable, "-m", module, "jobs"]
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


def report(args, times: dict[str, list[float]], load: str) -> None:
    rows = []
    for name, values in times.items():
        values.sort()
        p90 = values[min(len(values) - 1, int(round(0.9 * (len(values) - 1))))]
        rows.append([f"`{name}`", f"{statistics.median(values):.0f}", f"{p90:.0f}", f"{values[0]:.0f}"])
        print(f"{name:44s} median {statistics.median(values):6.0f} ms   p90 {p90:6.0f} ms   min {values[0]:6.0f} ms")
    jobs = statistics.median(times["heaven jobs"])
    verdict = "met" if jobs <= TARGET_MS else "not met"
    print(f"heaven jobs: {jobs:.0f} ms median, target {TARGET_MS:.0f} ms: {verdict}; load average {load}")
    if args.quick:
        return
    table = md_table(["command", "median ms", "p90 ms", "min ms"], rows)
    body = (f"## CLI start-to-exit (`bench/bench_cli.py`)\n\n"
            f"Wall time of each command as a new process, {args.runs} alternating runs, against a controller on "
            f"loopback holding {args.jobs} pending jobs. Target for `heaven jobs`: {TARGET_MS:.0f} ms "
            f"(**{verdict}**: {jobs:.0f} ms median; load average {load}, 1/5/15 min, on a shared machine). "
            f"Output goes to a pipe (discarded), so the listing is the plain columns; on a terminal it is the "
            f"Rich table, which imports Rich. A plain `heaven jobs` is answered without the Typer CLI "
            f"(heaven.cli.quick); `python -m heaven.launch jobs` is the Typer CLI's answer, which every other "
            f"command still pays (this Typer, 0.29, imports pydantic to coerce parameters). The interpreter's "
            f"own start and the CLI's imports are timed alongside, and the phases of one `heaven jobs` in one "
            f"process (`phase:` rows).\n\n"
            f"{table}\n\n{machine_md(COMMAND)}\n")
    print(f"wrote {write_section('cli', body)}")


if __name__ == "__main__":
    main()
