"""Run every bench/bench_*.py in turn, each as its own process, from the repository root.

    .venv/bin/python bench/run_all.py            # all of them
    .venv/bin/python bench/run_all.py control    # only those whose name contains "control"

Exits non-zero if any benchmark failed (crashed); a missed target is not a failure.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def main(argv: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if argv:
        scripts = [s for s in scripts if any(a in s.stem for a in argv)]
    if not scripts:
        print("no bench/bench_*.py to run", file=sys.stderr)
        return 1
    results = []
    for script in scripts:
        print(f"\n=== {script.relative_to(ROOT)} ===", flush=True)
        began = time.monotonic()
        code = subprocess.call([sys.executable, str(script)], cwd=ROOT)
        results.append((script.name, code, time.monotonic() - began))
    print("\n=== summary ===")
    for name, code, seconds in results:
        print(f"{name:30s} {'ok' if code == 0 else f'FAILED (exit {code})':20s} {seconds:7.1f} s")
    return 0 if all(code == 0 for _, code, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
