"""``#SBATCH`` directives of a batch script, read as sbatch reads them (pure: text in, values out).

sbatch takes directives from ``#SBATCH`` lines before the first command of the script;
so does this. Each line may hold several options, in either spelling (``--mem=4G``,
``--mem 4G``, ``-c4``, ``-c 4``), and a trailing `` # comment``. What maps onto a heaven job:

    -c, --cpus-per-task   cores per task          -n, --ntasks        tasks (default 1)
    --ntasks-per-node     tasks on each node      -N, --nodes         a gang of that many nodes
    --mem                 memory per node         --mem-per-cpu       memory per core
    -t, --time            walltime                -J, --job-name      the job's name
    -d, --dependency      afterok:ID[:ID...], afterany:ID[:ID...] (joined by ",")
    -o, --output / -e, --error   where standard output / error go (%j: job id, %x: name, %%: %)

Cores are per node, as heaven's gangs are: cpus-per-task × tasks per node, with tasks
spread evenly over the nodes (ceil(ntasks / nodes)). Any other option is reported as a
warning and ignored (partitions, accounts, mail, ...). A value sbatch would refuse is an
``SbatchError`` naming the directive.
"""
from __future__ import annotations

import math
import re
import shlex
from dataclasses import dataclass, field

SHORT = {"c": "cpus-per-task", "n": "ntasks", "N": "nodes", "J": "job-name", "t": "time", "o": "output", "e": "error",
         "d": "dependency"}
KNOWN = {"cpus-per-task", "ntasks", "ntasks-per-node", "nodes", "mem", "mem-per-cpu", "time", "job-name",
         "dependency", "output", "error"}
MEMORY_UNITS = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}  # Slurm's default unit is megabytes
UNLIMITED = {"UNLIMITED", "INFINITE"}
SHELLS = {"sh", "bash", "dash", "ksh"}


class SbatchError(ValueError):
    """A directive sbatch would refuse; the message names it."""


@dataclass
class Directives:
    """What the script asks for, in heaven's terms (None: the script does not say)."""
    cores: int | None = None
    nodes: int | None = None
    memory_mb: int | None = None
    walltime: float | None = None
    name: str | None = None
    after: list[int] = field(default_factory=list)
    after_any: list[int] = field(default_factory=list)
    output: str | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


def directive_lines(text: str) -> list[tuple[int, str]]:
    """(line number, what follows ``#SBATCH``) up to the script's first command."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if number == 1 and stripped.startswith("#!"):
            continue
        if not stripped:
            continue
        if not stripped.startswith("#"):
            break  # sbatch stops reading directives at the first command
        if re.match(r"#SBATCH(\s|$)", stripped):
            found.append((number, stripped[len("#SBATCH"):]))
    return found


def _options(number: int, rest: str) -> list[tuple[int, str, str | None]]:
    """(line, long name, value) of each option on one directive line."""
    rest = re.split(r"\s#", " " + rest, maxsplit=1)[0]  # a trailing comment
    try:
        words = shlex.split(rest)
    except ValueError as exc:
        raise SbatchError(f"line {number}: {exc}") from None
    found, i = [], 0
    while i < len(words):
        word = words[i]
        if word.startswith("--"):
            name, eq, value = word[2:].partition("=")
            if not eq:  # "--opt value"; an unknown option's following word is its value too
                takes = i + 1 < len(words) and not words[i + 1].startswith("-")
                value, i = (words[i + 1], i + 1) if takes else (None, i)
        elif word.startswith("-") and len(word) > 1:
            letter = word[1]
            name = SHORT.get(letter, "-" + letter)
            value = word[2:].removeprefix("=") or None
            if value is None and i + 1 < len(words) and (name in KNOWN or not words[i + 1].startswith("-")):
                value, i = words[i + 1], i + 1
        else:
            raise SbatchError(f"line {number}: {word!r} is not an option (options start with - or --)")
        found.append((number, name, value))
        i += 1
    return found


def _count(number: int, name: str, value: str | None) -> int:
    if value is None or not value.isdecimal() or int(value) < 1:
        raise SbatchError(f"line {number}: --{name} must be a whole number of at least 1, not {value!r}")
    return int(value)


def memory_mb(number: int, name: str, value: str | None) -> int:
    """``4096``, ``4G``, ``512M``, ``2048MB``: megabytes, rounded up."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]?)B?", (value or "").upper())
    if not match:
        raise SbatchError(f"line {number}: --{name} must be a size such as 4096, 512M or 4G, not {value!r}")
    return math.ceil(float(match[1]) * MEMORY_UNITS[match[2] or "M"])


def walltime(number: int, value: str | None) -> float | None:
    """sbatch's time formats: minutes, minutes:seconds, hours:minutes:seconds, days-hours,
    days-hours:minutes, days-hours:minutes:seconds; UNLIMITED: no limit."""
    text = (value or "").strip()
    if text.upper() in UNLIMITED:
        return None
    days, dash, clock = text.rpartition("-") if "-" in text else ("0", "", text)
    parts = clock.split(":")
    if not (days.isdecimal() and all(p.isdecimal() for p in parts) and 1 <= len(parts) <= 3):
        raise SbatchError(f"line {number}: --time must be minutes, MM:SS, HH:MM:SS or D-HH[:MM[:SS]], not {value!r}")
    numbers = [int(p) for p in parts]
    if dash:  # days-hours[:minutes[:seconds]]
        hours, minutes, seconds = (numbers + [0, 0])[:3]
    else:
        hours, minutes, seconds = numbers if len(numbers) == 3 else (0, numbers[0], numbers[1] if len(numbers) == 2 else 0)
    total = ((int(days) * 24 + hours) * 60 + minutes) * 60 + seconds
    if total <= 0:
        raise SbatchError(f"line {number}: --time must be more than zero, not {value!r}")
    return float(total)


def dependencies(number: int, value: str | None) -> tuple[list[int], list[int]]:
    """afterok:1:2,afterany:3 -> ([1, 2], [3]). Only "all of" (","): heaven has no "any of" ("?")."""
    if not value or "?" in value:
        raise SbatchError(f"line {number}: --dependency must be afterok:ID[:ID...] or afterany:ID[:ID...] joined by ',' "
                          f"(not {value!r})")
    after, after_any = [], []
    for part in value.split(","):
        kind, _, ids = part.partition(":")
        if kind not in ("afterok", "afterany") or not ids or not all(i.isdecimal() and int(i) > 0 for i in ids.split(":")):
            raise SbatchError(f"line {number}: --dependency {part!r}: only afterok:ID[:ID...] and afterany:ID[:ID...] "
                              "are supported")
        (after if kind == "afterok" else after_any).extend(int(i) for i in ids.split(":"))
    return after, after_any


def parse(text: str) -> Directives:
    """The directives of a batch script (the last of a repeated option wins, as in sbatch)."""
    given: dict[str, tuple[int, str | None]] = {}
    out = Directives()
    for number, rest in directive_lines(text):
        for line, name, value in _options(number, rest):
            if name in KNOWN:
                given[name] = (line, value)
            else:
                spelled = name if name.startswith("-") else "--" + name
                out.warnings.append(f"line {line}: #SBATCH {spelled} is not supported by heaven: ignored")
    values = {name: value for name, (_, value) in given.items()}
    line = {name: number for name, (number, _) in given.items()}
    nodes = _count(line["nodes"], "nodes", values["nodes"]) if "nodes" in values else None
    cpus = _count(line["cpus-per-task"], "cpus-per-task", values["cpus-per-task"]) if "cpus-per-task" in values else 1
    if "ntasks-per-node" in values:
        per_node = _count(line["ntasks-per-node"], "ntasks-per-node", values["ntasks-per-node"])
    else:
        tasks = _count(line["ntasks"], "ntasks", values["ntasks"]) if "ntasks" in values else 1
        per_node = math.ceil(tasks / (nodes or 1))
    if {"cpus-per-task", "ntasks", "ntasks-per-node"} & set(values):
        out.cores = cpus * per_node
    out.nodes = nodes
    if "mem" in values:
        out.memory_mb = memory_mb(line["mem"], "mem", values["mem"])
    elif "mem-per-cpu" in values:
        out.memory_mb = memory_mb(line["mem-per-cpu"], "mem-per-cpu", values["mem-per-cpu"]) * (out.cores or 1)
    if "time" in values:
        out.walltime = walltime(line["time"], values["time"])
    for name, attr in (("job-name", "name"), ("output", "output"), ("error", "error")):
        if name in values:
            if not values[name]:
                raise SbatchError(f"line {line[name]}: --{name} needs a value")
            setattr(out, attr, values[name])
    if "dependency" in values:
        out.after, out.after_any = dependencies(line["dependency"], values["dependency"])
    return out


def _path(pattern: str, name: str) -> str:
    """A file name pattern as a shell word: %j the job's id, %x its name, %% a percent sign."""
    parts = re.split(r"(%%|%j|%x)", pattern)
    words = {"%%": "%", "%j": '"$HEAVEN_JOB_ID"', "%x": shlex.quote(name)}
    return "".join(words[p] if p in words else shlex.quote(p) if p else "" for p in parts)


def command(text: str, script_name: str, name: str, output: str | None, error: str | None,
            args: list[str] | None = None) -> list[str]:
    """The job's command: the script's own text run by bash with ``args`` as $1..., (the node
    needs no copy of the file, as sbatch sends the script itself), its output also copied to
    --output/--error (``heaven logs`` still shows it: tee, not a plain redirection)."""
    first = text.splitlines()[0] if text else ""
    if first.startswith("#!"):
        words = first[2:].split()
        program = (words[1] if words and words[0].endswith("/env") and len(words) > 1 else words[0] if words else "")
        if program.rsplit("/", 1)[-1] not in SHELLS:
            raise SbatchError(f"line 1: {first!r}: heaven runs batch scripts with bash; this one is not a shell script")
    prelude = []
    if output or error:
        # tee, not a plain redirection, so ``heaven logs`` still has it. The shell waits for the
        # tees on exit (its own streams restored, theirs at end of file): a job's leftover
        # processes are stopped when it ends, and a tee stopped early would lose the tail.
        out_file, err_file = _path(output or "/dev/null", name), _path(error or output, name)
        prelude += ["exec 3>&1 4>&2", f"exec > >(tee -a {out_file}); __heaven_out=$!",
                    f"exec 2> >(tee -a {err_file} >&4); __heaven_err=$!",
                    "trap 'exec 1>&3 2>&4; wait $__heaven_out $__heaven_err' EXIT"]
    body = "\n".join(prelude) + "\n" + text if prelude else text
    return ["bash", "-c", body, script_name, *(args or [])]
