"""What changed between two dashboard views: what the stream sends after its first whole view.

A patch holds only what changed, so that the page touches only that (dashboard.js,
``applyPatch``):
- ``cores``: the core cells whose content changed, each whole;
- ``running`` and ``pending``: ``{"set": [jobs added or changed, each whole],
  "order": [every id, in the view's order]}``, the order only when it changed
  (a job came, went or moved in the queue);
- the small parts (``nodes``, ``totals``, ``activity``, ...) whole when they changed;
- ``now`` always.
When the cores themselves changed (a node came or went) there is no patch: the stream
sends the whole view again (``same_grid``), as the page rebuilds its grid then anyway.
"""
from __future__ import annotations

KEYED = {"running": "id", "pending": "id"}
WHOLE = ("organizations", "nodes", "pending_count", "totals", "activity")


def same_grid(old: dict, new: dict) -> bool:
    """The same cores in the same order: a patch can say what changed in them."""
    return len(old["cores"]) == len(new["cores"]) and all(
        a["index"] == b["index"] for a, b in zip(old["cores"], new["cores"]))


def difference(old: dict, new: dict) -> dict | None:
    """The patch from ``old`` to ``new`` (views of the same grid), None when only the time moved."""
    patch: dict = {}
    cells = [b for a, b in zip(old["cores"], new["cores"]) if a != b]
    if cells:
        patch["cores"] = cells
    for name, key in KEYED.items():
        change = _keyed(old[name], new[name], key)
        if change:
            patch[name] = change
    for name in WHOLE:
        if old[name] != new[name]:
            patch[name] = new[name]
    if not patch:
        return None
    patch["now"] = new["now"]
    return patch


def _keyed(old: list[dict], new: list[dict], key: str) -> dict:
    before = {item[key]: item for item in old}
    change: dict = {}
    changed = [item for item in new if before.get(item[key]) != item]
    if changed:
        change["set"] = changed
    order = [item[key] for item in new]
    if order != [item[key] for item in old]:
        change["order"] = order
    return change
