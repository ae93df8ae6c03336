"""Who a token belongs to, remembered for a few seconds.

Without it every request pays a read transaction to learn its caller, which under
load costs a submission a third of its throughput (bench/bench_auth.py). Kubernetes
caches token reviews the same way (``--authentication-token-webhook-cache-ttl``).

What may be stale, and for how long (``HEAVEN_AUTH_CACHE_SECONDS``, 0 turns it off):
- in this process, nothing that matters: every write to identities (logout, a token
  revoked, a membership changed) calls ``forget``, and a lookup that began before
  such a write is not stored (the generation moved on while it read);
- in another controller of the same database (high availability): the forget is
  relayed to the other replicas over LISTEN/NOTIFY once the write committed
  (heaven.control.replicas, kind ``callers``), so a revoked token works there only
  until the notice arrives, milliseconds. A notice lost while a replica's listener
  reconnects is covered too: on reconnecting it forgets every caller
  (``forget_here``). Only if PostgreSQL's notices themselves are lost does the
  bound fall back to the entry's seconds.
Expiry of the token itself is checked on every request against the clock.
Role checks that guard a write never use this: they read the role again in the
write's own transaction.
"""
from __future__ import annotations

import threading
from collections.abc import Callable

MAX_ENTRIES = 10_000  # a flood of distinct tokens must not grow memory without bound


class CallerCache:
    def __init__(self, seconds: float, clock: Callable[[], float]) -> None:
        self.seconds, self.clock = seconds, clock
        self._entries: dict[str, tuple[float, object]] = {}
        self._generation = 0
        self._lock = threading.Lock()
        self.relay: Callable[[], None] = lambda: None  # tells the other replicas (heaven.control.replicas)

    def generation(self) -> int:
        """Take this before the lookup whose answer you will ``store``."""
        return self._generation

    def get(self, token: str):
        if self.seconds <= 0:
            return None
        entry = self._entries.get(token)
        if entry is None or entry[0] <= self.clock():
            return None
        return entry[1]

    def store(self, token: str, caller, generation: int) -> None:
        if self.seconds <= 0:
            return
        with self._lock:
            if generation != self._generation:  # an identity changed while the caller was read
                return
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[token] = (self.clock() + self.seconds, caller)

    def forget(self, committed: bool = True) -> None:
        """Everything: called on every write to people, tokens or memberships. ``committed``:
        the write is done, so the other replicas are told too (before it, they could read
        the old state again and keep it)."""
        self.forget_here()
        if committed:
            self.relay()

    def forget_here(self) -> None:
        """Everything, in this replica only: what a notice from another replica does."""
        with self._lock:
            self._generation += 1
            self._entries.clear()
