"""The invariant checker on hand-made event histories: each kind of violation is found,
and a clean history (with stealing, a requeue, a gang and a full quota) passes."""
import pytest

from heaven.core.states import JobState
from heaven.store import invariants
from heaven.store.invariants import JobFacts, Limits, check


class History:
    """Events as the store writes them: ``assign`` details name node and cores."""

    def __init__(self) -> None:
        self.events: list[dict] = []

    def add(self, action: str, job: int, detail: str = "", node: str | None = None) -> "History":
        self.events.append({"seq": len(self.events) + 1, "ts": float(len(self.events)), "action": action,
                            "detail": detail, "job": job, "node": node})
        return self

    def submit(self, job: int) -> "History":
        return self.add("submit", job, f"j{job}: cores=1 priority=0")

    def assign(self, job: int, node: str, *cores: int) -> "History":
        return self.add("assign", job, f"on {node} cores {list(cores)}", node)

    def run(self, job: int, node: str, *cores: int, end: str = "succeed") -> "History":
        return self.assign(job, node, *cores).add("start", job, "pid 1", node).add(end, job, "exit code 0", node)


def _facts(**states: str) -> dict[int, JobFacts]:
    return {int(k[1:]): JobFacts(v) for k, v in states.items()}


def test_a_clean_history_passes():
    h = History()
    for j in (1, 2, 3, 4, 5):
        h.submit(j)
    h.assign(1, "n1", 0, 1).add("start", 1, "", "n1")
    h.add("shrink", 1, "gave up cores [1]", "n1")
    h.add("assign", 2, "on n1 cores [1] (1 taken from idle jobs [1])", "n1")  # stealing: after the shrink
    h.add("succeed", 2, "exit code 0", "n1").add("grow", 1, "got back cores [1]", "n1").add("succeed", 1, "", "n1")
    h.assign(3, "n2", 4).add("lose", 3, "node n2 stopped heartbeating", "n2").add("requeue", 3, "back to the queue")
    h.run(3, "n1", 0)  # its second run, after the first ended
    h.add("assign", 4, "gang on n1 cores [0, 1], n2 cores [4]").add("start", 4).add("succeed", 4)
    report = check(h.events, _facts(j1="succeeded", j2="succeeded", j3="succeeded", j4="succeeded", j5="pending"),
                   {"n1": "1/default", "n2": "1/default"}, {"1/default": Limits(cores=3)}, accepted=[1, 2, 3, 4, 5],
                   lifetimes={3: [(4.0, 5.0), (7.0, 9.0)]})
    assert report.ok, invariants.summary(report)
    assert (report.submitted, report.ended, report.runs) == (5, 4, 5)
    assert report.counts() == {kind: 0 for kind in invariants.KINDS}


def test_an_accepted_job_without_a_submit_or_a_row_or_left_lost_is_lost():
    h = History().submit(1).submit(2).assign(2, "n1", 0).add("lose", 2, "gone", "n1").submit(3)
    report = check(h.events, _facts(j2="lost"), accepted=[1, 2, 3, 9])
    lost = {v.job: v.message for v in report.of("lost")}
    assert set(lost) == {1, 2, 3, 9}
    assert "no row" in lost[1] and "left lost" in lost[2] and "no submit" in lost[9]
    assert not report.ok


def test_a_job_still_queued_or_running_is_not_lost():
    h = History().submit(1).submit(2).assign(2, "n1", 0).add("start", 2, "", "n1")
    assert check(h.events, _facts(j1="pending", j2="running"), accepted=[1, 2]).ok


def test_two_runs_alive_at_once_are_a_job_run_twice():
    h = History().submit(1).assign(1, "n1", 0).add("start", 1).assign(1, "n2", 4)
    report = check(h.events, _facts(j1="assigned"))
    assert [v.job for v in report.of("run_twice")] == [1] and "still alive" in report.of("run_twice")[0].message
    assert report.runs == 2


def test_a_run_after_a_successful_end_is_a_job_run_twice():
    h = History().submit(1).run(1, "n1", 0).run(1, "n1", 0)
    report = check(h.events, _facts(j1="succeeded"))
    assert len(report.of("run_twice")) == 1 and "after it had succeeded" in report.of("run_twice")[0].message


def test_overlapping_lifetimes_and_one_after_success_are_runs_twice():
    h = History().submit(1).run(1, "n1", 0).submit(2).run(2, "n1", 1).submit(3).run(3, "n1", 0)
    report = check(h.events, _facts(j1="succeeded", j2="succeeded", j3="succeeded"),
                   lifetimes={1: [(1.0, 3.0), (2.5, 3.5)],  # a second copy while the first lived
                              2: [(5.0, None), (6.0, 6.5)],  # the first never said it ended
                              3: [(9.0, 10.0), (12.0, 12.5)]})  # job 3 succeeded at ts 11
    assert sorted(v.job for v in report.of("run_twice")) == [1, 2, 3]


def test_a_core_granted_to_two_live_runs_is_double_booked():
    h = History().submit(1).submit(2).assign(1, "n1", 0, 1).assign(2, "n1", 1, 2)
    report = check(h.events, _facts(j1="assigned", j2="assigned"))
    [booked] = report.of("double_booked")
    assert booked.job == 2 and "core 1 of node n1" in booked.message and "job 1" in booked.message


def test_a_grow_onto_a_core_another_run_holds_is_double_booked():
    h = History().submit(1).submit(2).assign(1, "n1", 0).assign(2, "n1", 1)
    h.add("shrink", 1, "gave up cores [0]", "n1").add("grow", 2, "got back cores [0]", "n1")
    assert check(h.events, _facts(j1="assigned", j2="assigned")).ok  # given up first: fine
    h.add("grow", 1, "got back cores [0]", "n1")
    assert len(check(h.events, _facts(j1="assigned", j2="assigned")).of("double_booked")) == 1


def test_a_core_freed_by_an_end_may_be_granted_again():
    h = History().submit(1).submit(2).run(1, "n1", 0, end="fail").run(2, "n1", 0)
    assert check(h.events, _facts(j1="failed", j2="succeeded")).ok


@pytest.mark.parametrize("limits, label", [(Limits(cores=2), "cores"), (Limits(memory_mb=1500), "MB of memory"),
                                           (Limits(gpus=1), "GPUs")])
def test_a_quota_exceeded_at_any_point_is_reported(limits, label):
    h = History().submit(1).submit(2).assign(1, "n1", 0, 1).assign(2, "n2", 4).add("succeed", 2).add("succeed", 1)
    jobs = {1: JobFacts("succeeded", memory_mb=1000, gpus=1), 2: JobFacts("succeeded", memory_mb=1000, gpus=1)}
    report = check(h.events, jobs, {"n1": "1/c", "n2": "1/c"}, {"1/c": limits})
    [over] = report.of("over_quota")
    assert over.job == 2 and label in over.message and "1/c" in over.message
    # Another cluster's nodes count against its own quota only.
    assert check(h.events, jobs, {"n1": "1/c", "n2": "1/other"}, {"1/c": limits}).ok


def test_a_log_that_disagrees_with_the_table_is_a_mismatch():
    h = History().submit(1).run(1, "n1", 0).submit(2).add("start", 2)
    report = check(h.events, _facts(j1="failed", j2="running"))
    messages = [v.message for v in report.of("log_mismatch")]
    assert any("job 1 is failed but its log ends succeeded" in m for m in messages)
    assert any("pending -> running" in m for m in messages)


def test_a_placement_whose_cores_cannot_be_read_is_a_mismatch_not_a_pass():
    h = History().submit(1).add("assign", 1, "on n1 somewhere", "n1").add("start", 1, "pid 1", "n1")
    report = check(h.events, _facts(j1="running"))
    assert any("names no cores" in v.message for v in report.of("log_mismatch"))


def test_a_lost_job_placed_again_without_its_requeue_is_a_mismatch():
    h = History().submit(1).assign(1, "n1", 0).add("start", 1, "pid 1", "n1").add("lose", 1, "node down", "n1")
    h.assign(1, "n1", 0)
    report = check(h.events, _facts(j1="assigned"))
    assert any("lost -> assigned" in v.message for v in report.of("log_mismatch"))


def test_the_checker_reads_a_real_store(engine, store_url, capsys):
    """Placements, a start and an end the store itself wrote, then a core booked twice behind
    its back (the log is the evidence, not the claims table): found, and named by the command."""
    from heaven.store import events, jobs
    from tests.builders import stored_cycle, stored_job, stored_node

    with engine.begin() as conn:
        stored_node(conn, "n1", 2, 0)
        first, second, waiting = (stored_job(conn, name, 1) for name in ("a", "b", "c"))
    stored_cycle(engine)
    with engine.begin() as conn:
        jobs.mark_started(conn, first, 4.0, "agent:n1", "n1", pid=10)
        jobs.finish(conn, first, 0, 5.0, "agent:n1")
    clean = invariants.check_database(store_url, accepted=[first, second, waiting])
    assert clean.ok, invariants.summary(clean)
    assert (clean.submitted, clean.ended, clean.runs) == (3, 1, 2)
    assert invariants.main(["--db", store_url]) == 0

    with engine.begin() as conn:
        held = jobs.claims_of(conn, [second])[second]
        jobs.transition(conn, waiting, JobState.PENDING, JobState.ASSIGNED, 6.0, node="n1",
                        detail=f"on n1 cores {held}")
        free = sorted({0, 1} - set(held))
        events.record(conn, 7.0, "assign", f"on n1 cores {free}", job=first, node="n1")  # after its success
    report = invariants.check_database(store_url)
    assert len(report.of("double_booked")) == 1 and report.of("double_booked")[0].job == waiting
    assert len(report.of("run_twice")) == 1 and report.of("run_twice")[0].job == first
    assert [v.job for v in report.of("log_mismatch")] == [first]  # its row says succeeded, its log assigned
    capsys.readouterr()
    assert invariants.main(["--db", store_url, "--json"]) == 1
    assert '"double_booked": 1' in capsys.readouterr().out


def test_an_unreadable_database_is_named_without_a_traceback(tmp_path, capsys):
    assert invariants.main(["--db", f"sqlite:///{tmp_path}/missing/dir/x.db"]) == 2
    assert "cannot read" in capsys.readouterr().err
