"""A dashboard patch holds only what changed between two views."""
import copy

from heaven.control.dashboard_patch import difference, same_grid


def _job(job_id: int, **fields) -> dict:
    return {"id": job_id, "name": f"j{job_id}", "state": "pending", "requested": 1, "reason": None, **fields}


def _view() -> dict:
    return {"now": 1.0, "organizations": [{"id": 1, "name": "default"}],
            "nodes": [{"name": "n1", "allocated": 1}],
            "cores": [{"index": i, "node": "n1", "local": i, "job": 7 if i == 0 else None} for i in range(4)],
            "running": [_job(7, state="running")], "pending": [_job(8), _job(9)], "pending_count": 2,
            "totals": {"requested": 1, "allocated": 1, "used": 0.0, "lent": 0},
            "activity": [{"seq": 3, "action": "submit"}]}


def test_only_the_time_moved_is_no_patch():
    old = _view()
    new = copy.deepcopy(old)
    new["now"] = 2.0
    assert difference(old, new) is None


def test_a_placement_names_its_cells_and_jobs_only():
    old = _view()
    new = copy.deepcopy(old)
    new["now"] = 2.0
    new["cores"][2]["job"] = 8
    new["pending"] = [_job(9)]
    new["running"].append(_job(8, state="assigned"))
    new["pending_count"] = 1
    patch = difference(old, new)
    assert patch["now"] == 2.0
    assert patch["cores"] == [new["cores"][2]]
    assert patch["running"] == {"set": [_job(8, state="assigned")], "order": [7, 8]}
    assert patch["pending"] == {"order": [9]}  # gone: nothing to set
    assert patch["pending_count"] == 1
    assert "totals" not in patch and "nodes" not in patch and "activity" not in patch


def test_a_changed_job_is_sent_whole_without_an_order_and_small_parts_whole():
    old = _view()
    new = copy.deepcopy(old)
    new["pending"][1]["reason"] = "no free cores"
    new["activity"] = [{"seq": 4, "action": "wait"}, *old["activity"]]
    patch = difference(old, new)
    assert patch["pending"] == {"set": [new["pending"][1]]}
    assert patch["activity"] == new["activity"]
    assert "cores" not in patch and "running" not in patch


def test_a_node_that_came_or_went_changes_the_grid():
    old = _view()
    new = copy.deepcopy(old)
    assert same_grid(old, new)
    new["cores"].append({"index": 4, "node": "n2", "local": 0, "job": None})
    assert not same_grid(old, new)
    new["cores"] = [dict(c, index=c["index"] + 10) for c in old["cores"]]
    assert not same_grid(old, new)
