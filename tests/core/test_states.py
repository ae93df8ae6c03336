"""The job and node lifecycle tables and the crash back-off of services (pure: no clock)."""
from heaven.core.states import BACKOFF_MAX, JOB_TRANSITIONS, JobState, check_job_transition, crash_backoff


def test_the_back_off_doubles_from_one_second_to_five_minutes():
    assert [crash_backoff(n) for n in range(5)] == [1, 2, 4, 8, 16]
    assert crash_backoff(8) == 256 and crash_backoff(9) == BACKOFF_MAX == 300 and crash_backoff(10_000) == 300


def test_every_edge_says_why_and_terminal_states_have_no_way_out():
    for old, edges in JOB_TRANSITIONS.items():
        for new, why in edges.items():
            assert why and check_job_transition(old, new) == why
    for terminal in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED):
        assert JOB_TRANSITIONS[terminal] == {}


def test_the_service_edges():
    assert "back-off" in check_job_transition(JobState.RUNNING, JobState.PENDING)  # a crash restarts
    assert "stopped" in check_job_transition(JobState.PENDING, JobState.SUCCEEDED)  # a books-only stop


def test_no_edge_of_the_lifecycle_tables_is_written_twice():
    """A dict literal keeps only the last of two equal keys, silently: two edges with the
    same ends (two features each adding running -> pending) lose one comment."""
    import ast
    import inspect

    from heaven.core import states

    for node in ast.walk(ast.parse(inspect.getsource(states))):
        if isinstance(node, ast.Dict):
            keys = [ast.dump(k) for k in node.keys if k is not None]
            assert len(keys) == len(set(keys)), f"an edge written twice at line {node.lineno}"


def test_a_node_goes_down_only_through_disconnected_and_every_state_returns_up():
    """Down requeues its jobs, so only a node that was disconnected for its grace gets there."""
    from heaven.core.states import NODE_TRANSITIONS, NodeState, check_node_transition

    into_down = [old for old, edges in NODE_TRANSITIONS.items() if NodeState.DOWN in edges]
    assert into_down == [NodeState.DISCONNECTED]
    for old, edges in NODE_TRANSITIONS.items():
        for new, why in edges.items():
            assert why and check_node_transition(old, new) == why
        if old != NodeState.UP:
            assert NodeState.UP in edges, f"{old} has no way back up"
