"""One simulation, end to end: read a trace, pick a protocol, replay, measure.

This is what ``heaven sim`` and the documentation's tables call. The scheduler
configuration is the core's own ``SchedulerConfig``: the simulator only turns
``explain`` off (nobody reads per-job reasons here) and, under the
``rlscheduler`` protocol, holds the blocked head as that protocol does.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from heaven.core.scheduler import SchedulerConfig
from heaven.sim.defaults import HEADROOM
from heaven.sim.engine import Outcome, Replay
from heaven.sim.metrics import Metrics, summarize
from heaven.sim.protocol import Workload, prepare
from heaven.sim.reader import read_swf

# Published by RLScheduler (Zhang et al., SC'20) for lublin_256.swf under its
# protocol: average bounded slowdown by (policy, order).
PUBLISHED_LUBLIN = {
    ("fcfs", "fifo"): 7273.77, ("fcfs", "sjf"): 277.35, ("fcfs", "f1"): 258.37,
    ("rl-backfill", "fifo"): 235.82, ("rl-backfill", "sjf"): 73.31, ("rl-backfill", "f1"): 75.07,
}


@dataclass(slots=True)
class Result:
    workload: Workload
    config: SchedulerConfig
    seed: int
    usage_noise: float
    metrics: Metrics
    outcomes: list[Outcome] = field(repr=False, default_factory=list)

    def as_dict(self) -> dict:
        c = self.config
        return {
            "trace": self.workload.name,
            "protocol": self.workload.protocol,
            "cores": self.workload.cores,
            "sequences": len(self.workload.sequences),
            "dropped": self.workload.dropped,
            "policy": c.policy, "order": c.order, "steal": c.steal, "preempt": c.preempt, "headroom": c.headroom,
            "seed": self.seed, "usage_noise": self.usage_noise,
            "metrics": self.metrics.as_dict(),
        }




def config_for(policy: str, order: str, steal: bool, protocol: str, headroom: float = HEADROOM,
               **extra) -> SchedulerConfig:
    """The core configuration a replay uses."""
    return SchedulerConfig(policy=policy, order=order, steal=steal, headroom=headroom,
                           hold_head=protocol == "rlscheduler", explain=False, **extra)


def simulate(
    workload: Workload,
    config: SchedulerConfig,
    seed: int = 0,
    usage_noise: float = 0.0,
    on_progress: Callable[[int], None] | None = None,
    check: bool = False,
    share_window: float = 86400.0,
) -> Result:
    """Replay every sequence of ``workload``; ``on_progress`` gets jobs finished so far."""
    outcomes: list[Outcome] = []
    finished = 0
    for number, jobs in enumerate(workload.sequences):
        report = None
        if on_progress is not None:
            def report(done: int, before: int = finished) -> None:
                on_progress(before + done)
        outcomes.append(Replay(jobs, workload.cores, config, seed=f"{seed}/{number}", usage_noise=usage_noise,
                               check=check, on_progress=report, share_window=share_window).run())
        finished += len(jobs)
    return Result(workload, config, seed, usage_noise, summarize(outcomes), outcomes)


def simulate_file(path: str | Path, policy: str = "easy", order: str = "fifo", steal: bool = False,
                  protocol: str = "whole", seed: int = 0, usage_noise: float = 0.0,
                  cores: int | None = None, check: bool = False, orgs_from: str | None = None, **extra) -> Result:
    workload = prepare(read_swf(path), protocol, cores, orgs_from)
    return simulate(workload, config_for(policy, order, steal, protocol, **extra), seed, usage_noise, check=check)
