"""The operations a worker can run: ``monte_carlo_pi`` built in, more by Python entry point.

An entry point of the group ``heaven.operations`` names an ``Operation`` (or a function that
returns one), e.g. in a package's pyproject.toml::

    [project.entry-points."heaven.operations"]
    word_count = "mypackage.ops:word_count"

``size(data)`` checks a call's data and returns its work in units (iterations for
``monte_carlo_pi``), or None when the operation cannot say (its CPU estimate is then the
original's 50 %); it raises ``InvalidInput`` naming the bad field. ``run(data, cores)``
computes the result on a worker, given the CPUs it is pinned to; it may return
``Measured(result, seconds)`` to say how long the call takes alone on its cores (its CPU
time), which is what the estimator learns; otherwise the worker's wall time is learned.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from heaven.gateway import montecarlo

GROUP = "heaven.operations"
log = logging.getLogger(__name__)


class InvalidInput(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


@dataclass(frozen=True)
class Operation:
    name: str
    size: Callable[[dict], float | None]
    run: Callable[[dict, list[int]], Any]


@dataclass(frozen=True)
class Measured:
    result: Any
    seconds: float


MAX_ITERATIONS = 10**13  # about a day of one core; a bound on what one call may ask


def _iterations(data: dict) -> float:
    value = data.get("iterations")
    # JSON numbers such as 1e999 and NaN arrive as inf and nan: no integer, so no call.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput("data.iterations", "data.iterations must be a positive integer")
    if value != int(value) or value <= 0:
        raise InvalidInput("data.iterations", f"data.iterations must be a positive integer, not {value!r}")
    if value > MAX_ITERATIONS:
        raise InvalidInput("data.iterations", f"data.iterations must be at most {MAX_ITERATIONS:.0e}, not {value:.3g}")
    return float(int(value))


MONTE_CARLO_PI = Operation("monte_carlo_pi", _iterations,
                           lambda data, cores: Measured(*montecarlo.estimate_pi(int(data["iterations"]), cores)))


def registry() -> dict[str, Operation]:
    """The built-in operations plus those of installed entry points (a broken one is logged and left out)."""
    found = {MONTE_CARLO_PI.name: MONTE_CARLO_PI}
    for point in entry_points(group=GROUP):
        try:
            loaded = point.load()
            operation = loaded if isinstance(loaded, Operation) else loaded()
            if not isinstance(operation, Operation):
                raise TypeError(f"{point.value} is not an Operation")
        except Exception as exc:  # an operator's package must not take the gateway down
            log.warning("operation entry point %s left out: %s", point.name, exc)
            continue
        found.setdefault(point.name, operation)  # the built-in name stays the built-in
    return found
