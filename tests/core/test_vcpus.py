"""The vCPU threshold rule: sustain, hysteresis, cool-down, bounds, reasons."""
from heaven.core.vcpus import VcpuRules, VcpuState, decide

RULES = VcpuRules(high=0.8, low=0.3, sustain=5.0, cooldown=10.0, min_vcpus=1, max_vcpus=4)


def run(samples, vcpus=2, rules=RULES, state=VcpuState()):
    """Feed (time, use) samples; the changes made, with the vCPU count following them."""
    changes = []
    for now, use in samples:
        state, change = decide(rules, state, use, vcpus, now)
        if change:
            changes.append((now, change.delta, change.reason))
            vcpus += change.delta
    return changes, vcpus


def test_plugs_only_after_use_stays_high_for_the_sustain_time():
    changes, vcpus = run([(t, 0.95) for t in range(0, 6)])
    assert [(t, d) for t, d, _ in changes] == [(5, +1)]
    assert vcpus == 3
    assert "above 80% for 5.0s" in changes[0][2] and "2 -> 3" in changes[0][2]


def test_a_dip_into_the_band_restarts_the_timer():
    samples = [(0, 0.9), (1, 0.9), (2, 0.9), (3, 0.5), (4, 0.9), (5, 0.9), (6, 0.9), (7, 0.9), (8, 0.9), (9, 0.9)]
    changes, _ = run(samples)
    assert [t for t, _, _ in changes] == [9]  # 4 + 5, not 0 + 5


def test_unplugs_after_use_stays_low_and_never_below_the_minimum():
    changes, vcpus = run([(t, 0.05) for t in range(0, 40)], vcpus=3)
    assert [(t, d) for t, d, _ in changes] == [(5, -1), (15, -1)]  # the cool-down spaces them
    assert vcpus == 1
    assert "below 30%" in changes[0][2]


def test_no_change_within_the_cooldown_even_if_the_mark_is_passed():
    state = VcpuState(last_change=100.0)
    for now in range(100, 110):
        state, change = decide(RULES, state, 0.99, 2, float(now))
        assert change is None
    assert decide(RULES, state, 0.99, 2, 110.0)[1].delta == +1  # high since 100, cool-down over


def test_never_beyond_max_vcpus():
    changes, vcpus = run([(t, 1.0) for t in range(0, 60)], vcpus=4)
    assert changes == [] and vcpus == 4


def test_an_unplug_that_would_push_use_past_high_is_not_made():
    # 2 vCPUs at 29%: one vCPU would be at 58%, fine; 2 vCPUs at 29% with high 0.5 would be 58% > 50%.
    tight = VcpuRules(high=0.5, low=0.3, sustain=1.0, cooldown=0.0, max_vcpus=4)
    assert run([(0, 0.29), (1, 0.29), (2, 0.29)], rules=tight)[0] == []
    assert [d for _, d, _ in run([(0, 0.29), (1, 0.29)], rules=VcpuRules(
        high=0.8, low=0.3, sustain=1.0, cooldown=0.0))[0]] == [-1]


def test_rules_that_cannot_work_are_named():
    assert VcpuRules(high=0.3, low=0.3).problem()
    assert VcpuRules(min_vcpus=0).problem()
    assert VcpuRules(sustain=-1).problem()
    assert RULES.problem() is None
