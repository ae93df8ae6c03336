"""The threshold rule for a VM node's vCPUs: plug one, unplug one, or wait.

Pure: the caller samples the node's use (busy share of its vCPUs, 0..1) and the
time, and keeps the returned state for the next call.

- up: use has stayed above ``high`` for ``sustain`` seconds, and the node is below
  ``max_vcpus``;
- down: use has stayed below ``low`` for ``sustain`` seconds, the node is above
  ``min_vcpus``, and the same work spread over one vCPU fewer would still stay
  below ``high`` (otherwise the unplug would call for a plug straight away);
- between ``low`` and ``high`` nothing happens and both timers restart: that band,
  the projection, and ``cooldown`` seconds of quiet after every change are the
  hysteresis that keeps a node from flapping.
"""
from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class VcpuRules:
    high: float = 0.8  # busy share of the node's vCPUs
    low: float = 0.3
    sustain: float = 10.0  # seconds the use must stay past a mark
    cooldown: float = 10.0  # seconds after a change before the next
    min_vcpus: int = 1
    max_vcpus: int = 16

    def problem(self) -> str | None:
        """Why these rules cannot work, or None."""
        if not 0.0 <= self.low < self.high <= 1.0:
            return f"need 0 <= low < high <= 1 (low {self.low}, high {self.high})"
        if self.sustain < 0 or self.cooldown < 0:
            return "sustain and cooldown must not be negative"
        if not 1 <= self.min_vcpus <= self.max_vcpus:
            return f"need 1 <= min_vcpus <= max_vcpus ({self.min_vcpus}, {self.max_vcpus})"
        return None


@dataclass(frozen=True)
class VcpuState:
    above_since: float | None = None  # when use last rose above high (None: it is not above)
    below_since: float | None = None
    last_change: float | None = None


@dataclass(frozen=True)
class VcpuChange:
    delta: int  # +1: plug one vCPU; -1: unplug one
    reason: str


def decide(rules: VcpuRules, state: VcpuState, use: float, vcpus: int, now: float) -> tuple[VcpuState, VcpuChange | None]:
    """The state to keep and the change to make now (None: none)."""
    above = use > rules.high
    below = use < rules.low
    state = replace(state,
                    above_since=(state.above_since if state.above_since is not None else now) if above else None,
                    below_since=(state.below_since if state.below_since is not None else now) if below else None)
    if state.last_change is not None and now - state.last_change < rules.cooldown:
        return state, None
    if above and now - state.above_since >= rules.sustain and vcpus < rules.max_vcpus:
        reason = (f"use {use:.0%} above {rules.high:.0%} for {now - state.above_since:.1f}s: "
                  f"vCPUs {vcpus} -> {vcpus + 1}")
        return VcpuState(last_change=now), VcpuChange(+1, reason)
    if below and now - state.below_since >= rules.sustain and vcpus > rules.min_vcpus:
        projected = use * vcpus / (vcpus - 1)
        if projected < rules.high:
            reason = (f"use {use:.0%} below {rules.low:.0%} for {now - state.below_since:.1f}s "
                      f"({projected:.0%} on one fewer): vCPUs {vcpus} -> {vcpus - 1}")
            return VcpuState(last_change=now), VcpuChange(-1, reason)
    return state, None
