"""#SBATCH directives (heaven.cli.sbatch): real clusters' scripts (tests/cli/scripts/README.md
cites each) and every spelling sbatch accepts."""
from __future__ import annotations

import os
import pathlib
import subprocess

import pytest

from heaven.cli.sbatch import Directives, SbatchError, command, parse, walltime

SCRIPTS = pathlib.Path(__file__).with_name("scripts")


def test_virginia_tech_arc_header():
    d = parse((SCRIPTS / "vt_arc_huckleberry.sh").read_text())
    assert (d.name, d.cores, d.walltime, d.memory_mb, d.nodes) == ("slurm_huckleberry", 1, 300.0, 100, None)
    assert d.warnings == ["line 3: #SBATCH -p is not supported by heaven: ignored"]


def test_nesi_multithreading_with_trailing_comments():
    d = parse((SCRIPTS / "nesi_multithreading.sh").read_text())
    assert (d.name, d.cores, d.walltime, d.memory_mb) == ("MultithreadingTest", 4, 60.0, 2048)
    assert d.warnings == []


@pytest.mark.parametrize("line,expected", [
    ("--cpus-per-task=4", {"cores": 4}), ("--cpus-per-task 4", {"cores": 4}), ("-c 4", {"cores": 4}), ("-c4", {"cores": 4}),
    ("--ntasks=3", {"cores": 3}), ("-n 3 -c 2", {"cores": 6}), ("-N 2 -n 4 -c 3", {"cores": 6, "nodes": 2}),
    ("--nodes=2 --ntasks-per-node=2 --cpus-per-task=2", {"cores": 4, "nodes": 2}),
    ("--mem=4G", {"memory_mb": 4096}), ("--mem 512", {"memory_mb": 512}), ("--mem=1.5g", {"memory_mb": 1536}),
    ("--mem=100K", {"memory_mb": 1}), ("-c 2 --mem-per-cpu=1G", {"cores": 2, "memory_mb": 2048}),
    ("--time=90", {"walltime": 5400.0}), ("-t 1:30", {"walltime": 90.0}), ("-t 02:00:00", {"walltime": 7200.0}),
    ("--time=1-12", {"walltime": 129600.0}), ("--time=1-0:30", {"walltime": 88200.0}),
    ("--time=2-00:00:10", {"walltime": 172810.0}), ("--time=UNLIMITED", {"walltime": None}),
    ("--job-name=train", {"name": "train"}), ("-J 'two words'", {"name": "two words"}),
    ("--dependency=afterok:12", {"after": [12]}), ("-d afterok:1:2,afterany:3", {"after": [1, 2], "after_any": [3]}),
    ("--output=out-%j.txt -e err.txt", {"output": "out-%j.txt", "error": "err.txt"}), ("-o log", {"output": "log"}),
])
def test_each_spelling(line, expected):
    d = parse(f"#!/bin/bash\n#SBATCH {line}\nsrun hostname\n")
    assert d.warnings == []
    assert vars(d) == vars(Directives()) | expected  # and nothing else set


def test_directives_after_the_first_command_are_not_read_and_the_last_repeat_wins():
    d = parse("#!/bin/sh\n\n# a comment\n#SBATCH -c 2\n#SBATCH --cpus-per-task=3\necho hi\n#SBATCH -c 8\n")
    assert d.cores == 3
    assert parse("#SBATCHX -c 2\n#sbatch -c 2\n").cores is None  # neither is a directive


def test_unknown_options_are_warnings():
    d = parse("#SBATCH --partition=gpu --account acct --mail-type=END -q debug\n#SBATCH --exclusive -c 2\n")
    assert d.cores == 2
    assert d.warnings == [f"line {n}: #SBATCH {o} is not supported by heaven: ignored"
                          for n, o in ((1, "--partition"), (1, "--account"), (1, "--mail-type"), (1, "-q"), (2, "--exclusive"))]


@pytest.mark.parametrize("line,words", [
    ("-c 0", "line 1: --cpus-per-task must be a whole number of at least 1, not '0'"),
    ("--ntasks=x", "--ntasks must be a whole number"), ("--nodes", "--nodes must be a whole number"),
    ("--mem=lots", "line 1: --mem must be a size such as 4096, 512M or 4G, not 'lots'"),
    ("--time=1:2:3:4", "--time must be minutes, MM:SS, HH:MM:SS or D-HH[:MM[:SS]]"), ("--time=0", "more than zero"),
    ("--dependency=afternotok:3", "only afterok:ID[:ID...] and afterany:ID[:ID...] are supported"),
    ("--dependency=afterok:1?afterok:2", "joined by ','"), ("--job-name", "--job-name needs a value"),
    ("--job-name='open", "No closing quotation"), ("stray", "'stray' is not an option"),
])
def test_refused_values_name_the_directive(line, words):
    with pytest.raises(SbatchError) as caught:
        parse(f"#SBATCH {line}\n")
    assert words in str(caught.value)


def test_walltime_formats_agree_with_sbatch():
    assert [walltime(1, v) for v in ("5", "5:30", "1:00:00", "3-4", "3-4:05", "3-4:05:06")] == \
        [300.0, 330.0, 3600.0, 273600.0, 273900.0, 273906.0]


def test_the_command_runs_the_script_and_copies_its_output(tmp_path):
    script = "#!/bin/bash\n#SBATCH -o %x-%j.out\necho to-out \"$1\"; echo to-err >&2; exit 3\n"
    argv = command(script, "job.sh", "demo", parse(script).output, None, ["arg"])
    # In its own session, as the agent starts a job (whose leftovers it stops when the script ends).
    proc = subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={"HEAVEN_JOB_ID": "42", "PATH": "/usr/bin:/bin"}, start_new_session=True)
    out, err = proc.communicate(timeout=30)
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)  # no tee outlives the script: nothing for the agent to stop early
    assert proc.returncode == 3 and out == "to-out arg\n" and err == "to-err\n"  # heaven logs still has both
    # Complete when the script has ended (the tees were waited for); without --error, both
    # streams go to --output, as in sbatch.
    assert sorted((tmp_path / "demo-42.out").read_text().split()) == ["arg", "to-err", "to-out"]


def test_only_shell_scripts():
    with pytest.raises(SbatchError, match="not a shell script"):
        command("#!/usr/bin/env python3\nprint(1)\n", "x.py", "x", None, None)
    assert command("#!/usr/bin/env bash\necho\n", "x.sh", "x", None, None)[:2] == ["bash", "-c"]
