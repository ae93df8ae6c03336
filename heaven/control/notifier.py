"""Wakes agents that long-poll for their assignments.

Each node has a generation number (``heaven.control.changes.Generations``) that
grows whenever what should run on it changes. The numbers start from the
controller's start time in milliseconds, so after a restart every agent's
remembered generation is stale and it fetches its assignments at once.

When the controller stops, ``close()`` answers every held long-poll at once.
"""
from __future__ import annotations

from heaven.control.changes import Generations


class NodeNotifier(Generations):
    """Keyed by node name: ``touch(nodes)`` after a commit, ``wait(node, seen, timeout)`` in a long-poll."""
