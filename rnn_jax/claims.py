"""Published claims as data, and their verdicts computed from runs.

A :class:`Claim` names its source, the published figure in words, and the checks that decide
whether our runs reproduce it. Each check reads one quantity per seed from
:class:`~rnn_jax.results.Results` (a final held-out metric, or how many decades ‖∂L/∂h_t‖
falls from the last step to the first), compares it with a threshold or with another run's
value for the same seed, and holds when at least ``share`` of the seeds pass (3 of 4 by
default, 6 of 8). A claim holds when
every check holds; nothing is printed that was not computed from the runs.

    check = Final("lstm_T100", below=0.5, relative_to_baseline=True)
    outcome = check.evaluate(results.load("runs/reproduce/adding"))
    outcome.passed, outcome.seeds, outcome.holds, outcome.text
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

TINY = float(np.finfo(np.float32).smallest_subnormal)  # what an underflowed float32 norm was at most


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One check's result.

    Attributes:
        text: the check in words.
        values: the per-seed quantity, by seed.
        passed: how many seeds pass.
        share: the share of seeds that must pass.
    """

    text: str
    values: dict[int, float]
    passed: int
    share: float

    @property
    def seeds(self) -> int:
        return len(self.values)

    @property
    def needed(self) -> int:
        """Seeds that must pass: ``ceil(share × seeds)``."""
        return math.ceil(self.share * self.seeds - 1e-9)

    @property
    def holds(self) -> bool:
        return self.seeds > 0 and self.passed >= self.needed

    def summary(self) -> str:
        """``mean ± std`` of the quantity and ``k/n seeds``."""
        v = np.asarray(list(self.values.values()), dtype=np.float64)
        if v.size == 0:
            return "no runs"
        with np.errstate(invalid="ignore"):  # inf values (a diverged run) have no spread
            spread = f" ± {_fmt(v.std(ddof=1))}" if v.size > 1 else ""
        return f"{_fmt(v.mean())}{spread} ({self.passed}/{self.seeds} seeds)"


def _fmt(x: float) -> str:
    if not math.isfinite(x):
        return str(x)
    return f"{x:.3g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.2e}"


def _final(results, run: str, metric: str, where: Mapping[str, float]) -> dict[int, float]:
    """The last held-out value of ``metric`` for each seed of ``run`` (at the ``where`` sweep point)."""
    frame = results.with_members(results.eval[(results.eval.run == run) & (results.eval.metric == metric)])
    for name, value in where.items():
        frame = frame[np.isclose(frame[name], value)]
    if frame.empty:
        return {}
    frame = frame[frame.step == frame.step.max()]
    return {int(s): float(v) for s, v in zip(frame.seed, frame.value)}


def _decades(results, run: str, step: str | int) -> dict[int, float]:
    """log10(‖∂L/∂h_T‖ / ‖∂L/∂h_0‖) of the first layer at ``step`` ("first" or "last"
    recorded, or a number) for each seed: how many decades the gradient falls over the
    sequence. A norm that underflowed to 0 counts as the smallest float32 (1.4e-45): the
    value is then a lower bound (about 45 decades)."""
    frame = results.grad_norms[(results.grad_norms.run == run) & (results.grad_norms.layer == 0)]
    if frame.empty:
        return {}
    steps = sorted(frame.step.unique())
    at = {"first": steps[0], "last": steps[-1]}.get(step, step)
    frame = results.with_members(frame[frame.step == at])
    out = {}
    for seed, part in frame.groupby("seed"):
        part = part.sort_values("t")
        first, last = float(part.value.iloc[0]), float(part.value.iloc[-1])
        out[int(seed)] = math.log10(last / max(first, TINY))
    return out


@dataclasses.dataclass(frozen=True)
class Final:
    """The final held-out ``metric`` of ``run`` against a threshold, seed by seed.

    Attributes:
        run: the run's name in the experiment directory.
        metric: a held-out metric (``loss``, ``accuracy``...).
        below / above: the value must be ``<= below`` / ``>= above`` (one of them).
        relative_to_baseline: thresholds are multiples of the task's trivial baseline loss.
        share: the share of seeds that must pass.
        where: a sweep point (``{"learning_rate": 0.1}``) when the run is a sweep.
        label: a short name for the run in the text (default: ``run``).
    """

    run: str
    metric: str = "loss"
    below: float | None = None
    above: float | None = None
    relative_to_baseline: bool = False
    share: float = 0.75
    where: Mapping[str, float] | tuple[tuple[str, float], ...] = ()
    label: str = ""

    def __post_init__(self):
        if (self.below is None) == (self.above is None):
            raise ValueError(f"Final({self.run!r}): give exactly one of below= and above=")
        if isinstance(self.where, Mapping):
            object.__setattr__(self, "where", tuple(sorted(self.where.items())))

    def evaluate(self, results) -> Outcome:
        values = _final(results, self.run, self.metric, dict(self.where))
        scale = 1.0
        if self.relative_to_baseline:
            rows = results.runs[results.runs.run == self.run]
            scale = float(rows.baseline_loss.iloc[0]) if len(rows) else math.nan
        bound = (self.below if self.below is not None else self.above) * scale
        passed = sum((v <= bound) if self.below is not None else (v >= bound) for v in values.values())
        relation = "≤" if self.below is not None else "≥"
        factor = self.below if self.below is not None else self.above
        threshold = f"{factor:g} × baseline ({_fmt(bound)})" if self.relative_to_baseline else _fmt(bound)
        where = "".join(f", {k} = {v:g}" for k, v in self.where)
        text = f"{self.label or self.run}{where}: final {self.metric} {relation} {threshold}"
        return Outcome(text, values, int(passed), self.share)


@dataclasses.dataclass(frozen=True)
class Beats:
    """``run``'s final ``metric`` is lower (``higher=True``: higher) than ``other``'s for the same seed."""

    run: str
    other: str
    metric: str = "loss"
    higher: bool = False
    share: float = 0.75

    def evaluate(self, results) -> Outcome:
        mine, theirs = (_final(results, r, self.metric, {}) for r in (self.run, self.other))
        seeds = sorted(mine.keys() & theirs.keys())
        values = {s: mine[s] - theirs[s] for s in seeds}
        passed = sum((d > 0) if self.higher else (d < 0) for d in values.values())
        relation = "higher" if self.higher else "lower"
        return Outcome(f"{self.run} final {self.metric} {relation} than {self.other}'s, same seed (difference)",
                       values, int(passed), self.share)


@dataclasses.dataclass(frozen=True)
class Decay:
    """How many decades ‖∂L/∂h_t‖ falls from the last step back to the first, against a
    threshold (``at_least``: vanishing; ``at_most``: carried back)."""

    run: str
    step: str | int = "first"
    at_least: float | None = None
    at_most: float | None = None
    share: float = 0.75

    def __post_init__(self):
        if (self.at_least is None) == (self.at_most is None):
            raise ValueError(f"Decay({self.run!r}): give exactly one of at_least= and at_most=")

    def evaluate(self, results) -> Outcome:
        values = _decades(results, self.run, self.step)
        if self.at_least is not None:
            passed, text = sum(v >= self.at_least for v in values.values()), f"≥ {self.at_least:g}"
        else:
            passed, text = sum(v <= self.at_most for v in values.values()), f"≤ {self.at_most:g}"
        when = {"first": "at initialisation", "last": "after training"}.get(self.step, f"at step {self.step}")
        return Outcome(f"{self.run} {when}: decades ‖∂L/∂h_t‖ falls from t = T to t = 0 {text}",
                       values, int(passed), self.share)


@dataclasses.dataclass(frozen=True)
class CarriesFurther:
    """After training, ‖∂L/∂h_t‖ of ``run`` falls fewer decades over the sequence than
    ``other``'s, seed by seed."""

    run: str
    other: str
    step: str | int = "last"
    share: float = 0.75

    def evaluate(self, results) -> Outcome:
        mine, theirs = (_decades(results, r, self.step) for r in (self.run, self.other))
        seeds = sorted(mine.keys() & theirs.keys())
        values = {s: theirs[s] - mine[s] for s in seeds}
        return Outcome(f"{self.run} carries ‖∂L/∂h_t‖ further back than {self.other} (decades fewer)",
                       values, int(sum(v > 0 for v in values.values())), self.share)


Check = Final | Beats | Decay | CarriesFurther


@dataclasses.dataclass(frozen=True)
class Claim:
    """A published result and how we check it.

    Attributes:
        name: short identifier (``--only NAME``).
        source: the publication and figure or table.
        published: the published result in words, with its numbers.
        experiment: the experiment module that makes the runs (``experiments.NAME``).
        args: its command-line arguments for the claim's setup.
        quick_args: with ``--quick``, arguments after ``args`` and ``--quick`` that shrink what
            ``args`` made large (on a command line the last value given wins).
        setup: how the setup follows (or is scaled down from) the publication.
        checks: what must hold.
        figure: the experiment's figure that shows the claim.
    """

    name: str
    source: str
    published: str
    experiment: str
    args: tuple[str, ...]
    setup: str
    checks: tuple[Any, ...]
    quick_args: tuple[str, ...] = ()
    figure: str = ""

    def command(self, run_dir: str, *, quick: bool = False) -> list[str]:
        """The experiment's command line (``python -m`` and its arguments)."""
        quick_part = ["--quick", *self.quick_args] if quick else []
        return ["python", "-m", f"experiments.{self.experiment}", *self.args, *quick_part, "--run-dir", run_dir]

    def evaluate(self, results) -> list[Outcome]:
        return [check.evaluate(results) for check in self.checks]


def holds(outcomes: Sequence[Outcome]) -> bool:
    return bool(outcomes) and all(o.holds for o in outcomes)
