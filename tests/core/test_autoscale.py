"""The pool decision: scale out on waiting demand, pre-spawn, scale in after the cool-down,
within the minimum and the maximum, each action with its reason."""
from heaven.core.autoscale import (CAPACITY_REASONS, DOWN, DRAIN, ELASTICITY_ORDER, LAUNCHING, UP, Demand, Drain,
                                   Launch, PlugVcpus, PoolNode, PoolRules, PoolView, Resume, Retire, UnplugVcpus,
                                   decide)
from heaven.core import reasons
from heaven.core.quotas import OVER_QUOTA
from heaven.core.dependencies import WAITING_FOR_DEPENDENCY

RULES = PoolRules(min_nodes=0, max_nodes=3, node_cores=2, scale_in_cooldown=30, launch_timeout=60)


def up(name, busy=0, idle_since=None, cores=2):
    return PoolNode(name, UP, cores, busy, idle_since)


def kinds(decision):
    return [type(a).__name__ for a in decision.actions]


def test_waiting_jobs_start_as_many_nodes_as_pack_them():
    view = PoolView(RULES, (), (Demand(1, 2), Demand(2, 1), Demand(3, 1)))
    [launch] = decide(view, 100).actions
    assert launch == Launch(2, launch.reason, "scale_out")
    assert "jobs 1, 2, 3 wait for 4 cores" in launch.reason


def test_the_reason_names_the_jobs_left_oldest_placed_first():
    view = PoolView(RULES, (PoolNode("p-1", LAUNCHING, 2, launched_at=0),), (Demand(1, 2), Demand(2, 2)))
    [launch] = decide(view, 1).actions
    assert launch.count == 1 and launch.reason.startswith("job 2 waits for 2 cores")


def test_a_gang_counts_each_part():
    [launch] = decide(PoolView(RULES, (), (Demand(7, 2, parts=3),)), 0).actions
    assert launch.count == 3


def test_the_maximum_caps_a_scale_out_and_says_so():
    view = PoolView(RULES, (up("p-1", busy=2),), tuple(Demand(i, 2) for i in range(1, 6)))
    [launch] = decide(view, 0).actions
    assert launch.count == 2 and "the maximum of 3 allows 2 of 5" in launch.reason


def test_at_the_maximum_nothing_starts_and_the_reason_names_it():
    view = PoolView(RULES, tuple(up(f"p-{i}", busy=2) for i in range(3)), (Demand(9, 1),))
    [launch] = decide(view, 0).actions
    assert launch.count == 0 and "at its maximum of 3" in launch.reason


def test_nodes_on_their_way_and_free_cores_absorb_demand_first():
    joining = PoolNode("p-2", LAUNCHING, 2, launched_at=95)
    view = PoolView(RULES, (up("p-1", busy=1), joining), (Demand(1, 1), Demand(2, 2)))
    assert decide(view, 100).actions == []


def test_a_job_bigger_than_a_pool_node_is_reported_not_scaled_for():
    decision = decide(PoolView(RULES, (), (Demand(4, 3),)), 0)
    assert decision.unfit == (4,)
    assert not any(isinstance(a, Launch) and a.count for a in decision.actions)


def test_a_draining_node_is_resumed_before_a_new_one_starts():
    view = PoolView(RULES, (PoolNode("p-1", DRAIN, 2),), (Demand(1, 2), Demand(2, 2)))
    actions = decide(view, 0).actions
    assert [type(a) for a in actions] == [Resume, Launch]
    assert actions[0].node == "p-1" and actions[1].count == 1


def test_rising_demand_takes_vcpus_before_nodes():
    view = PoolView(RULES, (up("vm-1", busy=2),), (Demand(1, 1), Demand(2, 2)), vcpu_room=1)
    actions = decide(view, 0).actions
    assert [type(a) for a in actions] == [PlugVcpus, Launch]
    assert actions[0].cores == 1 and actions[1].count == 1  # job 2's two cores still need a node


def test_the_ladder_is_written_once_and_falls_in_reverse():
    assert ELASTICITY_ORDER["rising"][0].startswith("give back")
    assert ELASTICITY_ORDER["rising"][-1] == "add nodes"
    assert ELASTICITY_ORDER["falling"] == tuple(reversed(ELASTICITY_ORDER["rising"]))


def test_only_capacity_reasons_are_demand():
    assert {reasons.NO_NODES, reasons.INSUFFICIENT_CPU} <= CAPACITY_REASONS
    assert OVER_QUOTA not in CAPACITY_REASONS and WAITING_FOR_DEPENDENCY not in CAPACITY_REASONS


def test_initial_workers_on_the_first_look_and_the_minimum_always():
    rules = PoolRules(min_nodes=1, max_nodes=4, initial_workers=3)
    [first] = decide(PoolView(rules, (), starting=True), 0).actions
    assert first == Launch(3, first.reason, "initial") and "INITIAL_WORKERS is 3" in first.reason
    [later] = decide(PoolView(rules, ()), 0).actions
    assert later == Launch(1, later.reason, "scale_min")


def test_prespawn_starts_one_node_ahead_when_none_is_on_its_way():
    rules = PoolRules(max_nodes=4, node_cores=4, prespawn_threshold=70, max_cpu_threshold=90)
    [launch] = decide(PoolView(rules, (up("p-1", busy=3, cores=4),)), 0).actions
    assert launch.count == 1 and launch.action == "prespawn" and "75%" in launch.reason
    joining = PoolNode("p-2", LAUNCHING, 4, launched_at=0)
    assert decide(PoolView(rules, (up("p-1", busy=6, cores=8), joining)), 1).actions == []


def test_above_max_cpu_threshold_enough_nodes_to_fall_below_it():
    rules = PoolRules(max_nodes=10, node_cores=2, prespawn_threshold=50, max_cpu_threshold=80)
    nodes = tuple(up(f"p-{i}", busy=2) for i in range(2))  # 4 of 4 busy: 100%
    [launch] = decide(PoolView(rules, nodes), 0).actions
    # 4 busy cores under 80% need more than 5 cores: 3 nodes of 2 (6 cores, 67%), one added.
    assert launch.count == 1 and launch.action == "scale_out" and "MAX_CPU_THRESHOLD" in launch.reason


def test_an_idle_node_is_drained_after_the_cool_down_and_not_before():
    nodes = (up("p-1", busy=0, idle_since=100), up("p-2", busy=0, idle_since=120))
    assert decide(PoolView(RULES, nodes), 129).actions == []
    [drain] = decide(PoolView(RULES, nodes), 131).actions
    assert drain == Drain("p-1", drain.reason) and "idle for 31s (cool-down 30s)" in drain.reason
    assert [a.node for a in decide(PoolView(RULES, nodes), 200).actions] == ["p-1", "p-2"]


def test_a_draining_node_does_not_count_as_one_that_stays():
    nodes = (PoolNode("p-1", DRAIN, 2, busy_cores=1), up("p-2", idle_since=0))
    [drain] = decide(PoolView(RULES, nodes), 100).actions
    assert drain.node == "p-2" and "0 nodes stay (minimum 0)" in drain.reason
    floor = PoolRules(min_nodes=1, max_nodes=3, scale_in_cooldown=0)
    assert decide(PoolView(floor, nodes), 100).actions == []  # p-2 is the one that stays


def test_scale_in_keeps_the_minimum_and_among_equals_the_older_node():
    rules = PoolRules(min_nodes=1, max_nodes=3, scale_in_cooldown=0)
    nodes = (up("p-1", idle_since=0), up("p-2", idle_since=0))
    assert [a.node for a in decide(PoolView(rules, nodes), 10).actions] == ["p-2"]


def test_scale_in_stops_where_the_rest_would_cross_a_threshold():
    rules = PoolRules(max_nodes=3, node_cores=2, scale_in_cooldown=0, prespawn_threshold=70)
    nodes = (up("p-1", busy=2), up("p-2", idle_since=0))  # without p-2: 100% busy, it would come back
    assert decide(PoolView(rules, nodes), 10).actions == []


def test_no_scale_in_while_jobs_wait_or_a_node_joins():
    nodes = (up("p-1", idle_since=0),)
    assert decide(PoolView(RULES, nodes, (Demand(1, 2),)), 100).actions == []  # it waits for p-1's cores
    joining = PoolNode("p-2", LAUNCHING, 2, launched_at=99)
    assert decide(PoolView(RULES, (*nodes, joining)), 100).actions == []


def test_drained_empty_down_and_never_joined_nodes_are_retired():
    nodes = (PoolNode("p-1", DRAIN, 2, busy_cores=0), PoolNode("p-2", DRAIN, 2, busy_cores=1),
             PoolNode("p-3", DOWN, 2), PoolNode("p-4", LAUNCHING, 2, launched_at=0))
    retired = {a.node: a.reason for a in decide(PoolView(RULES, nodes), 61).actions if isinstance(a, Retire)}
    assert set(retired) == {"p-1", "p-3", "p-4"}
    assert "did not join within 60s" in retired["p-4"] and "stopped heartbeating" in retired["p-3"]


def test_a_node_that_never_joined_is_replaced_while_demand_waits():
    view = PoolView(RULES, (PoolNode("p-1", LAUNCHING, 2, launched_at=0),), (Demand(1, 2),))
    assert kinds(decide(view, 61)) == ["Retire", "Launch"]


def test_spare_vcpus_go_only_when_no_node_can():
    rules = PoolRules(min_nodes=1, max_nodes=2, scale_in_cooldown=0)
    [unplug] = decide(PoolView(rules, (up("vm-1", idle_since=0),), vcpu_spare=2), 5).actions
    assert unplug == UnplugVcpus(2, unplug.reason)
    nodes = (up("vm-1", idle_since=0), up("vm-2", idle_since=0))
    assert kinds(decide(PoolView(rules, nodes, vcpu_spare=2), 5)) == ["Drain"]
