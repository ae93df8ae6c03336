"""Shared by the benchmarks: the machine they ran on, and their section of docs/benchmarks.md.

Each benchmark owns one section between ``<!-- bench:NAME -->`` and
``<!-- /bench:NAME -->`` and replaces only that; the rest of the file is kept.
The file is locked while it is rewritten, so benchmarks may run concurrently.
"""
from __future__ import annotations

import datetime as _dt
import fcntl
import os
import platform
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
TITLE = "# Benchmarks\n"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_revision() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return f"{head}{' + uncommitted changes' if dirty else ''}" if head else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine() -> dict[str, str]:
    return {
        "CPUs (nproc)": str(os.cpu_count()),
        "CPUs usable": str(len(os.sched_getaffinity(0))),
        "CPU model": cpu_model(),
        "Python": platform.python_version(),
        "Kernel": platform.release(),
        "Date": _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "Revision": git_revision(),
    }


def md_table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_md(command: str) -> str:
    info = machine()
    rows = [[k, v] for k, v in info.items()] + [["Reproduce", f"`{command}`"]]
    return md_table(["", ""], rows)


def write_section(name: str, body: str, path: Path = DOC) -> Path:
    """Replace the section ``name`` of docs/benchmarks.md with ``body`` (create the file if missing)."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{body.strip()}\n{end}"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.seek(0)
        text = fh.read() or TITLE
        pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
        if pattern.search(text):
            text = pattern.sub(lambda _m: block, text, count=1)
        else:
            text = text.rstrip("\n") + "\n\n" + block + "\n"
        fh.seek(0)
        fh.truncate()
        fh.write(text)
        fh.flush()
    return path
