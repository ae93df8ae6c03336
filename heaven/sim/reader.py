"""Reading Standard Workload Format (SWF) traces, plain or gzip-compressed.

SWF (Parallel Workloads Archive; Feitelson, Tsafrir, Krakov, JPDC 2014) is one
job a line, 18 whitespace-separated numeric fields, ``-1`` for unknown. Header
lines start with ``;``; of them we read ``MaxProcs`` and ``MaxNodes`` (the
machine size), keep the rest as text, and skip comments. A malformed line is an
error that names the file, the line number and the field, never a guess.
"""
from __future__ import annotations

import gzip
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

FIELDS = (
    "job_number", "submit_time", "wait_time", "run_time", "allocated_processors",
    "average_cpu_time", "used_memory", "requested_processors", "requested_time",
    "requested_memory", "status", "user_id", "group_id", "executable", "queue",
    "partition", "preceding_job", "think_time",
)
# Counts and identifiers must be whole numbers; times and amounts may have decimals.
_INT_INDICES = tuple(FIELDS.index(f) for f in ("job_number", "allocated_processors", "requested_processors",
                                                "status", "user_id", "group_id", "executable", "queue",
                                                "partition", "preceding_job"))
_LEADING_INT = re.compile(r"\s*(\d+)")


class SwfError(ValueError):
    """A trace that cannot be read, with where and why."""

    def __init__(self, path: str | Path, line: int | None, message: str, field: str | None = None) -> None:
        self.path, self.line, self.field = str(path), line, field
        where = f"{self.path}:{line}" if line is not None else self.path
        what = f" (field {FIELDS.index(field) + 1}, {field})" if field else ""
        super().__init__(f"{where}{what}: {message}")


@dataclass(frozen=True, slots=True)
class SwfJob:
    """One line of a trace, the fields the simulator uses by name.

    Times in seconds, ``-1`` where the trace does not know.
    """

    job_number: int
    submit_time: float
    wait_time: float
    run_time: float
    allocated_processors: int
    average_cpu_time: float
    requested_processors: int
    requested_time: float
    status: int = -1
    user_id: int = -1
    group_id: int = -1
    queue: int = -1
    line: int = 0  # where it was read, for messages


@dataclass(slots=True)
class Trace:
    path: str
    jobs: list[SwfJob]
    max_procs: int | None = None
    max_nodes: int | None = None
    header: list[str] = field(default_factory=list)

    @property
    def machine_cores(self) -> int | None:
        """Processors of the machine: ``MaxProcs``, else ``MaxNodes``."""
        return self.max_procs or self.max_nodes


def read_swf(path: str | Path) -> Trace:
    """Read a whole trace. Raises SwfError (bad content) or OSError (no file)."""
    path = Path(path)
    trace = Trace(str(path), [])
    try:
        for number, line in _lines(path):
            stripped = line.strip()
            if not stripped:
                continue
            if stripped.startswith(";"):
                _header(trace, stripped, number)
                continue
            trace.jobs.append(parse_line(stripped, number, path))
    except (gzip.BadGzipFile, EOFError, UnicodeDecodeError) as err:
        raise SwfError(path, None, f"not a readable SWF file ({err})") from err
    return trace


def parse_line(text: str, number: int, path: str | Path = "<trace>") -> SwfJob:
    """One job line; the error names the first field that is not a number."""
    parts = text.split()
    if len(parts) != len(FIELDS):
        missing = FIELDS[len(parts)] if len(parts) < len(FIELDS) else None
        raise SwfError(path, number, f"expected {len(FIELDS)} fields, found {len(parts)}", missing)
    try:
        v = [float(raw) for raw in parts]
    except ValueError:
        v = []
    if len(v) != len(FIELDS) or not all(map(math.isfinite, v)):  # "nan" and "inf" are no times either
        for name, raw in zip(FIELDS, parts):
            try:
                if math.isfinite(float(raw)):
                    continue
            except ValueError:
                pass
            raise SwfError(path, number, f"{raw!r} is not a number", name)
    for i in _INT_INDICES:
        if not v[i].is_integer():
            raise SwfError(path, number, f"{parts[i]!r} is not a whole number", FIELDS[i])
    return SwfJob(
        job_number=int(v[0]), submit_time=v[1], wait_time=v[2], run_time=v[3],
        allocated_processors=int(v[4]), average_cpu_time=v[5], requested_processors=int(v[7]),
        requested_time=v[8], status=int(v[10]), user_id=int(v[11]), group_id=int(v[12]), queue=int(v[14]), line=number,
    )


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with path.open("rb") as probe:
        magic = probe.read(2)
    opener = gzip.open if magic == b"\x1f\x8b" else open
    with opener(path, "rt", encoding="utf-8", errors="strict") as handle:
        yield from enumerate(handle, start=1)


def _header(trace: Trace, line: str, number: int) -> None:
    trace.header.append(line)
    key, sep, value = line[1:].partition(":")
    key = key.strip()
    if not sep or key not in ("MaxProcs", "MaxNodes"):
        return
    match = _LEADING_INT.match(value)  # "338 (batch partition; 512 total)" reads 338
    if match is None:
        raise SwfError(trace.path, number, f"{key} is not a number: {value.strip()!r}")
    if key == "MaxProcs":
        trace.max_procs = int(match.group(1))
    else:
        trace.max_nodes = int(match.group(1))
