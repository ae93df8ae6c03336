"""The gateway's decisions: which worker takes a call, when the pool grows, when it shrinks."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from heaven.gateway.decide import Limits, fits, rescale, route
from tests.builders import gateway_worker

LIMITS = Limits(max_cpu=80, prespawn=70, initial_workers=1, cooldown=30, worker_cores=1)


def test_a_call_goes_to_the_least_loaded_worker_it_fits():
    workers = [gateway_worker(0, load=50), gateway_worker(1, load=20), gateway_worker(2, load=65)]
    decision = route(15, workers, free_cores=4, limits=LIMITS)
    assert (decision.kind, decision.worker) == ("run", 101)
    assert "Worker-Core-1 at 20.0%" in decision.reason


def test_ties_go_to_the_lowest_core():
    assert route(10, [gateway_worker(3, 0), gateway_worker(1, 0)], 0, LIMITS).worker == 101


def test_the_threshold_is_a_bound_the_projected_load_may_reach_but_not_pass():
    assert route(30, [gateway_worker(0, load=50)], 0, LIMITS).kind == "run"  # 80 == MAX
    assert route(30.1, [gateway_worker(0, load=50)], 0, LIMITS).kind == "wait"


def test_no_room_and_a_free_core_spawns_with_the_loads_in_the_reason():
    decision = route(40, [gateway_worker(0, load=60)], free_cores=1, limits=LIMITS)
    assert decision.kind == "spawn"
    assert "Worker-Core-0 60.0%" in decision.reason and "1 cores free" in decision.reason


def test_a_starting_worker_with_room_is_waited_for_instead_of_spawning_another():
    starting = gateway_worker(-1, load=40, ready=False, key=7)
    decision = route(30, [gateway_worker(0, load=60), starting], free_cores=3, limits=LIMITS)
    assert (decision.kind, decision.worker) == ("wait", 7)
    # ... but once the starting worker is promised full, the next call spawns another
    assert route(50, [gateway_worker(0, load=60), starting], free_cores=3, limits=LIMITS).kind == "spawn"


def test_no_room_and_no_core_waits_and_nothing_at_all_refuses():
    assert route(40, [gateway_worker(0, load=60)], free_cores=0, limits=LIMITS).kind == "wait"
    refused = route(40, [], free_cores=0, limits=LIMITS)
    assert refused.kind == "refuse" and "no core can be had" in refused.reason


def test_max_workers_caps_spawns():
    capped = Limits(max_cpu=80, max_workers=1)
    decision = route(40, [gateway_worker(0, load=60)], free_cores=5, limits=capped)
    assert decision.kind == "wait" and "MAX_WORKERS 1" in decision.reason


def test_a_call_larger_than_the_threshold_takes_an_idle_worker_alone():
    big = 95.0  # 10^10 iterations by the original rule
    assert route(big, [gateway_worker(0, load=5), gateway_worker(1, load=0)], 0, LIMITS).worker == 101
    assert route(big, [gateway_worker(0, load=5)], 1, LIMITS).kind == "spawn"


def test_initial_workers_are_started_up_to_the_free_cores():
    actions = rescale([], free_cores=2, now=0, limits=Limits(initial_workers=3))
    assert [a.kind for a in actions] == ["spawn", "spawn"]
    assert "INITIAL_WORKERS 3" in actions[0].reason


def test_prespawn_when_every_ready_worker_is_above_the_prespawn_threshold():
    actions = rescale([gateway_worker(0, load=75), gateway_worker(1, load=71)], free_cores=1, now=0, limits=LIMITS)
    assert [a.kind for a in actions] == ["spawn"] and "pre-spawn" in actions[0].reason
    assert rescale([gateway_worker(0, load=75), gateway_worker(1, load=69)], 1, 0, LIMITS) == []
    assert rescale([gateway_worker(0, load=75)], free_cores=0, now=0, limits=LIMITS) == []
    # one pre-spawn at a time: not while a worker is still starting
    assert rescale([gateway_worker(0, load=75), gateway_worker(-1, ready=False, key=9)], 1, 0, LIMITS) == []


def test_idle_extra_workers_retire_after_the_cool_down_keeping_the_initial_ones():
    workers = [gateway_worker(0, idle_since=0), gateway_worker(1, idle_since=10), gateway_worker(2, load=20)]
    assert [a.worker for a in rescale(workers, 0, now=35, limits=LIMITS)] == [100]  # Core-1 idle for 25 s only
    retired = rescale(workers, 0, now=45, limits=LIMITS)
    assert [a.worker for a in retired] == [100, 101]
    assert "idle for 45 s" in retired[0].reason and "cool-down 30 s" in retired[0].reason
    assert rescale([gateway_worker(0, idle_since=0)], 0, now=1000, limits=LIMITS) == []  # the initial one stays


loads = st.floats(0, 100, allow_nan=False)


@given(st.lists(st.tuples(loads, st.booleans()), max_size=8), st.floats(0.1, 120), st.integers(0, 4))
def test_a_placed_call_never_passes_the_threshold_where_another_worker_had_room(pool, cpu, free):
    workers = [gateway_worker(i, load=load, ready=ready, key=i) for i, (load, ready) in enumerate(pool)]
    decision = route(cpu, workers, free, LIMITS)
    if decision.kind == "run":
        chosen = next(w for w in workers if w.key == decision.worker)
        assert chosen.ready and fits(chosen, cpu, LIMITS)
        assert all(chosen.load <= w.load for w in workers if w.ready and fits(w, cpu, LIMITS))
    else:
        assert not any(w.ready and fits(w, cpu, LIMITS) for w in workers)
