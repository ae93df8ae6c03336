"""From trace lines to replayed jobs: RLScheduler's rules and the usage model."""
import pytest

from heaven.sim.protocol import RLSCHEDULER_LENGTH, RLSCHEDULER_STARTS, job_list, prepare
from heaven.sim.reader import SwfError, SwfJob, Trace


def raw(number, submit=0.0, run=100.0, alloc=4, req_procs=-1, req_time=-1.0, cpu=-1.0):
    return SwfJob(number, submit, -1.0, run, alloc, cpu, req_procs, req_time)


def test_job_rules():
    trace = Trace("t.swf", [
        raw(1, run=-1, req_time=-1),          # negative run: 10 s; estimate: the original run time
        raw(2, run=0),                        # dropped
        raw(3, alloc=2, req_procs=6, req_time=300),  # size max(alloc, requested); estimate requested
        raw(4, alloc=64),                     # larger than the machine: dropped
        raw(5, alloc=-1, req_procs=-1),       # no processors: dropped
    ], max_procs=32)
    jobs, dropped = job_list(trace, 32)
    assert [(j.id, j.run, j.cores, j.estimate) for j in jobs] == [(1, 10.0, 4, -1.0), (3, 100.0, 6, 300.0)]
    assert dropped == {"zero run time": 1, "larger than the machine": 1, "no processors": 1}


def test_parallelism_from_field_6():
    jobs, _ = job_list(Trace("t", [raw(1, run=100, alloc=8, cpu=25.0),     # 25% busy on 8: 2 cores
                                   raw(2, run=100, alloc=8, req_procs=10, cpu=100.0),  # all 8 allocated
                                   raw(3, run=100, alloc=8, cpu=250.0),    # more than wall time: capped
                                   raw(4, run=100, alloc=8)]), 16)          # unknown: uses all it holds
    assert [j.parallelism for j in jobs] == [2.0, 8.0, 8.0, None]


def test_rlscheduler_sequences_and_machine():
    trace = Trace("/x/big.swf", [raw(i, submit=float(i)) for i in range(10_000, 0, -1)], max_nodes=256)
    workload = prepare(trace, "rlscheduler")
    assert workload.cores == 256 and workload.name == "big.swf" and len(workload.sequences) == 10
    assert [s[0].id for s in workload.sequences] == [start + 1 for start in RLSCHEDULER_STARTS]  # sorted by number
    assert {len(s) for s in workload.sequences} == {RLSCHEDULER_LENGTH}
    whole = prepare(trace)
    assert len(whole.sequences) == 1 and whole.sequences[0][0].id == 1


def test_rlscheduler_needs_enough_jobs_and_a_machine_size():
    with pytest.raises(SwfError, match="needs 9874 usable jobs, the trace has 5"):
        prepare(Trace("t", [raw(i) for i in range(1, 6)], max_procs=8), "rlscheduler")
    with pytest.raises(SwfError, match="neither MaxProcs nor MaxNodes"):
        prepare(Trace("t", [raw(1)]))
    assert prepare(Trace("t", [raw(1)]), cores=8).cores == 8
