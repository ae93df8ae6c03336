"""How long a call will take and how much of its worker's CPU it will hold (pure, no clock).

The start is the original orchestrator's rule: ``t = iterations / 5e7`` seconds, and the CPU
share from ``t`` by a piecewise curve (``cpu_percent``); 50 % for an operation it cannot size.
Then each operation's time is learned from its finished runs on this hardware: a weighted
least-squares line ``t = overhead + seconds_per_unit * units``, each run weighted by
``1/t²`` (so the fit minimizes the relative error: calls span three orders of magnitude,
and an unweighted fit would be all about the largest), older runs fading by
``FORGETTING`` per run (so a changed machine is followed). The seconds learned are what a
call takes alone on its cores (its CPU time, as the worker measures it): the wall time
also counts the calls sharing its core, which would teach the load, not the hardware. The original's prior enters as two
pseudo-runs, so the first real runs move the line at once. The CPU share keeps the
original's curve over the learned time: a CPU-bound call always measures ~100 % of its cores
while it runs, so the measured share says nothing about how much room a call leaves.

Every run's relative error (the prediction made before the run against what it took) is kept,
and reported (``Estimator.report``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

PRIOR_UNITS_PER_SECOND = 5e7
UNKNOWN_CPU = 50.0
FORGETTING = 0.97  # each run multiplies the weight of all before it (prior included)
MIN_SECONDS = 1e-4
RECENT = 20  # runs in the "recent error" figure


def prior_seconds(units: float) -> float:
    return units / PRIOR_UNITS_PER_SECOND


def cpu_percent(seconds: float) -> float:
    """The original rule: 10 + 20t below 1 s, 30 + 7.5(t - 1) up to 5 s, else 60 + min(5(t - 5), 35), at most 100."""
    if seconds < 1:
        value = 10 + 20 * seconds
    elif seconds <= 5:
        value = 30 + 7.5 * (seconds - 1)
    else:
        value = 60 + min(5 * (seconds - 5), 35)
    return min(value, 100.0)


def relative_weight(seconds: float) -> float:
    return 1.0 / max(seconds, MIN_SECONDS) ** 2


@dataclass
class Fit:
    """Weighted sums of one operation's runs (units n, seconds t)."""

    w: float = 0.0
    n: float = 0.0
    t: float = 0.0
    nn: float = 0.0
    nt: float = 0.0

    def add(self, units: float, seconds: float, weight: float = 1.0) -> None:
        self.w += weight
        self.n += weight * units
        self.t += weight * seconds
        self.nn += weight * units * units
        self.nt += weight * units * seconds

    def fade(self, factor: float) -> None:
        self.w, self.n, self.t, self.nn, self.nt = (v * factor for v in (self.w, self.n, self.t, self.nn, self.nt))

    def line(self) -> tuple[float, float]:
        """(overhead seconds, seconds per unit); through the origin when the units hardly vary."""
        spread = self.w * self.nn - self.n * self.n
        if self.w <= 0:
            return 0.0, 1 / PRIOR_UNITS_PER_SECOND
        if spread <= 1e-9 * self.w * self.nn:
            slope = self.nt / self.nn if self.nn > 0 else 0.0
            return (0.0, slope) if self.nn > 0 and self.n > 0 else (self.t / self.w, 0.0)
        slope = (self.w * self.nt - self.n * self.t) / spread
        overhead = (self.t - slope * self.n) / self.w
        if slope <= 0:  # noise on a few runs; keep a line that grows with the work
            slope, overhead = self.nt / self.nn, 0.0
        if overhead < 0:  # a negative overhead is an artefact of the fit: refit through the origin
            slope, overhead = self.nt / self.nn, 0.0
        return overhead, slope


@dataclass
class Model:
    fit: Fit = field(default_factory=Fit)
    runs: int = 0
    errors: list[float] = field(default_factory=list)  # relative error of each run, in order


class Estimator:
    """Per operation: the seconds and CPU % of a call of ``units`` (None: the operation cannot be sized)."""

    def __init__(self, forgetting: float = FORGETTING) -> None:
        self.forgetting = forgetting
        self.models: dict[str, Model] = {}

    def _model(self, operation: str, sized: bool) -> Model:
        if operation not in self.models:
            model = Model()
            if sized:  # the original rule as two pseudo-runs (a small and a large call)
                for units in (1e6, 1e8):
                    model.fit.add(units, prior_seconds(units), relative_weight(prior_seconds(units)))
            self.models[operation] = model
        return self.models[operation]

    def seconds(self, operation: str, units: float | None) -> float | None:
        model = self.models.get(operation)
        if units is None:
            if model is None or model.fit.w <= 0:
                return None
            return max(model.fit.t / model.fit.w, MIN_SECONDS)
        if model is None:
            return prior_seconds(units)
        overhead, slope = model.fit.line()
        return max(overhead + slope * units, MIN_SECONDS)

    def cpu(self, operation: str, units: float | None) -> float:
        if units is None:
            return UNKNOWN_CPU
        return cpu_percent(self.seconds(operation, units))

    def learn(self, operation: str, units: float | None, seconds: float) -> float | None:
        """Record a finished run; returns the relative error of the prediction made before it."""
        predicted = self.seconds(operation, units)
        model = self._model(operation, units is not None)
        error = None
        if predicted is not None and seconds > 0:
            error = abs(predicted - seconds) / seconds
            model.errors.append(error)
        model.fit.fade(self.forgetting)
        model.fit.add(1.0 if units is None else units, seconds, relative_weight(seconds))
        model.runs += 1
        return error

    def report(self) -> dict:
        """Per operation: runs, the learned line, and the relative error (last, recent mean, first-runs mean)."""
        out = {}
        for name, model in self.models.items():
            overhead, slope = model.fit.line()
            errors = model.errors
            out[name] = {
                "runs": model.runs,
                "overhead_seconds": round(overhead, 6),
                "units_per_second": round(1 / slope) if slope > 0 else None,
                "last_error_pct": round(100 * errors[-1], 2) if errors else None,
                "recent_error_pct": round(100 * sum(errors[-RECENT:]) / len(errors[-RECENT:]), 2) if errors else None,
                "first_error_pct": round(100 * sum(errors[:RECENT]) / len(errors[:RECENT]), 2) if errors else None,
                "errors_pct": [round(100 * e, 2) for e in errors[-1000:]],
            }
        return out
