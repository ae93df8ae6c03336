"""The policy is a value the stages ask questions of; a setting's string becomes it."""
import pytest

from heaven.core.config import POLICIES, Policy, SchedulerConfig


def test_a_policy_string_becomes_the_value_and_still_compares_equal():
    config = SchedulerConfig(policy="easy")
    assert config.policy is Policy.EASY
    assert config.policy == "easy"


@pytest.mark.parametrize("name, strict, backfills, keeps", [
    ("greedy", False, False, False), ("fcfs", True, False, False),
    ("rl-backfill", True, True, True), ("easy", True, True, False),
])
def test_each_policy_answers_the_stages_questions(name, strict, backfills, keeps):
    policy = Policy(name)
    assert (policy.strict, policy.backfills, policy.keeps_reservation) == (strict, backfills, keeps)


def test_rl_backfill_always_holds_its_head_the_others_only_when_asked():
    assert SchedulerConfig(policy="rl-backfill").holds_head
    assert not SchedulerConfig(policy="easy").holds_head
    assert SchedulerConfig(policy="easy", hold_head=True).holds_head


def test_unknown_settings_are_refused_with_the_choices():
    with pytest.raises(ValueError, match=", ".join(POLICIES)):
        SchedulerConfig(policy="lottery")
    with pytest.raises(ValueError, match="victim order"):
        SchedulerConfig(victim_order="random")
