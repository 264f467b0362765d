"""Published claims as data, and their verdicts computed from runs.

A :class:`Claim` names its source, what the source shows, the curves it shows as
:class:`Published` points (training examples seen, value), and the checks that decide whether
our runs reproduce it. Each check reads one quantity per seed at a budget of training
examples (a held-out metric, or how many decades ‖∂L/∂h_t‖ falls from the last step to the
first), compares it with a threshold or with another run's value for the same seed, and holds
when at least ``share`` of the seeds pass (3 of 4 by default). A claim holds when every check
holds; nothing is printed that was not computed from the runs.

The same check evaluated on the published points (:meth:`Claim.evaluate_published`) must
hold: a claim whose source fails its own check is a wrong claim, not a finding.

    check = Final("lstm_T100", below=0.95, relative_to_baseline=True, examples=1e6)
    outcome = check.evaluate(results.load("runs/reproduce/copy_memory"))
    outcome.passed, outcome.seeds, outcome.holds, outcome.text
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

BUDGET_TOLERANCE = 0.05  # a point within 5% of a budget (in examples) is at that budget


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One check's result.

    Attributes:
        text: the check in words.
        values: the per-seed quantity, by seed (the published value is seed 0).
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
            spread = f" ± {fmt(v.std(ddof=1))}" if v.size > 1 else ""
        return f"{fmt(v.mean())}{spread} ({self.passed}/{self.seeds} seeds)"


def fmt(x: float) -> str:
    """A number in 3 significant digits (scientific below 1e-3); a fraction that 3 digits
    would round to 1, such as an accuracy of 2559/2560, gets the digits that tell it from 1."""
    if not math.isfinite(x):
        return str(x)
    if abs(x) < 1e-3 and x != 0:
        return f"{x:.2e}"
    digits = 3
    while abs(x) < 1 and abs(float(f"{x:.{digits}g}")) == 1 and digits < 9:
        digits += 1
    return f"{x:.{digits}g}"


def fmt_examples(n: float) -> str:
    """``96k``, ``1e6``: a number of training examples."""
    if n >= 1e6 and n % 1e6 == 0:
        return f"{n / 1e6:g}e6"
    return f"{n / 1e3:g}k" if n >= 1e3 else f"{n:g}"


@dataclasses.dataclass(frozen=True)
class Published:
    """A run's curve as its source shows it.

    Attributes:
        run: the name of our run that reproduces this curve (``lstm_T100``).
        metric: ``loss``, ``accuracy``... (a held-out metric) or ``decades`` (how many
            decades ‖∂L/∂h_t‖ falls from the last step back to the first).
        points: ``(training examples seen, value)`` pairs in the source's units.
        source: where each point comes from (figure and panel, or table), and how it was read.
        baseline: the source's trivial baseline for this run, for checks relative to it.
        label: the source's name for the model (``"LSTM"``).
    """

    run: str
    metric: str
    points: tuple[tuple[float, float], ...]
    source: str
    baseline: float | None = None
    label: str = ""

    def __post_init__(self):
        points = tuple((float(n), float(v)) for n, v in self.points)
        if not points or any(n < 0 or not math.isfinite(v) for n, v in points):
            raise ValueError(f"Published({self.run!r}): expected (examples >= 0, finite value) points, got {self.points}")
        if list(points) != sorted(points):
            raise ValueError(f"Published({self.run!r}): points must be in increasing order of examples")
        object.__setattr__(self, "points", points)

    def at(self, examples: float | None) -> float | None:
        """The value at ``examples`` (``None``: the last point), if a point is within 5% of it."""
        if examples is None:
            return self.points[-1][1]
        for n, v in self.points:
            if abs(n - examples) <= BUDGET_TOLERANCE * max(examples, 1.0):
                return v
        return None


# --- where a check reads its quantities: our runs, or the published points -------------------


class _Ours:
    """Quantities from our runs (:class:`~rnn_jax.io.results.Results`), seed by seed."""

    def __init__(self, results):
        self.results = results

    def baseline(self, run: str) -> float:
        rows = self.results.runs[self.results.runs.run == run]
        return float(rows.baseline_loss.iloc[0]) if len(rows) else math.nan

    def _step(self, run: str, examples: float | None, steps: Sequence[int]) -> int | None:
        """The recorded step at ``examples`` (the last one for ``None``), or ``None`` if the
        run has no record within 5% of that budget."""
        if not len(steps):
            return None
        if examples is None:
            return int(max(steps))
        rows = self.results.runs[self.results.runs.run == run]
        wanted = examples / float(rows.batch_size.iloc[0])
        nearest = min(steps, key=lambda s: abs(s - wanted))
        return int(nearest) if abs(nearest - wanted) <= BUDGET_TOLERANCE * max(wanted, 1.0) else None

    def evaluations(self, run: str, metric: str):
        """The held-out ``metric`` of ``run`` at every evaluation, with the members' seeds."""
        results = self.results
        return results.with_members(results.eval[(results.eval.run == run) & (results.eval.metric == metric)])

    def metric(self, run: str, metric: str, examples: float | None, where: Mapping[str, float]) -> dict[int, float]:
        frame = self.evaluations(run, metric)
        for name, value in where.items():
            frame = frame[np.isclose(frame[name], value)]
        step = self._step(run, examples, sorted(frame.step.unique()))
        if step is None:
            return {}
        frame = frame[frame.step == step]
        return {int(s): float(v) for s, v in zip(frame.seed, frame.value)}

    def best(self, run: str, metric: str, examples: float | None) -> dict[int, float]:
        """The highest value of ``metric`` at any evaluation up to ``examples`` (all: ``None``),
        per seed; empty when the run was not trained to within 5% of that budget."""
        frame = self.evaluations(run, metric)
        last = self._step(run, examples, sorted(frame.step.unique()))
        if last is None:
            return {}
        frame = frame[frame.step <= last]
        return {int(s): float(v) for s, v in frame.groupby("seed").value.max().items()}

    def decades(self, run: str, examples: float | None) -> dict[int, float]:
        """log10(‖∂L/∂h_T‖ / ‖∂L/∂h_0‖) of the first layer at ``examples`` (``None``: the last
        diagnostics step) for each seed. A norm that underflowed to 0 counts as the smallest
        float32 (:func:`~rnn_jax.analysis.diagnostics.gradient_decades`)."""
        from rnn_jax.analysis import diagnostics

        results = self.results
        frame = results.grad_norms[(results.grad_norms.run == run) & (results.grad_norms.layer == 0)]
        step = self._step(run, examples, sorted(frame.step.unique()))
        if step is None:
            return {}
        out = {}
        for seed, part in results.with_members(frame[frame.step == step]).groupby("seed"):
            part = part.sort_values("t")
            out[int(seed)] = float(diagnostics.gradient_decades(part.value.to_numpy()))
        return out


class _Paper:
    """Quantities read off the published points: one 'seed' (0) where the source has a point."""

    def __init__(self, published: Sequence[Published]):
        self.curves = {(p.run, p.metric): p for p in published}

    def baseline(self, run: str) -> float:
        found = [p.baseline for (r, _), p in self.curves.items() if r == run and p.baseline is not None]
        return found[0] if found else math.nan

    def metric(self, run: str, metric: str, examples: float | None, where: Mapping[str, float]) -> dict[int, float]:
        curve = self.curves.get((run, metric))
        value = None if curve is None else curve.at(examples)
        return {} if value is None else {0: value}

    def best(self, run: str, metric: str, examples: float | None) -> dict[int, float]:
        curve = self.curves.get((run, metric))
        if curve is None or (examples is not None and curve.at(examples) is None):
            return {}
        upto = [v for n, v in curve.points if examples is None or n <= examples * (1 + BUDGET_TOLERANCE)]
        return {0: max(upto)}

    def decades(self, run: str, examples: float | None) -> dict[int, float]:
        return self.metric(run, "decades", examples, {})


class _Untrained(_Ours):
    """Our runs before training: every quantity read at the first record (step 0), whatever
    the check's budget."""

    def metric(self, run, metric, examples, where):
        return super().metric(run, metric, 0, where)

    def best(self, run, metric, examples):
        return super().best(run, metric, 0)

    def decades(self, run, examples):
        return super().decades(run, 0)


class _Contrast(_Ours):
    """Our runs with each run read in the place of another (``{"lstm_T100": "rnn_T100"}``)."""

    def __init__(self, results, runs: Mapping[str, str]):
        super().__init__(results)
        self.runs = dict(runs)

    def baseline(self, run):
        return super().baseline(self.runs.get(run, run))

    def metric(self, run, metric, examples, where):
        return super().metric(self.runs.get(run, run), metric, examples, where)

    def best(self, run, metric, examples):
        return super().best(self.runs.get(run, run), metric, examples)

    def decades(self, run, examples):
        return super().decades(self.runs.get(run, run), examples)


@dataclasses.dataclass(frozen=True)
class Untrained:
    """The control "a network that learned nothing": the same runs, read at initialisation."""

    def source(self, results) -> _Ours:
        return _Untrained(results)

    def __str__(self) -> str:
        return "the same runs untrained (step 0)"


@dataclasses.dataclass(frozen=True)
class Contrast:
    """The control "the contrasting model the source draws": each check read on another run
    (``Contrast({"lstm_T100": "rnn_T100", "rnn_T100": "lstm_T100"})``)."""

    runs: Mapping[str, str] | tuple[tuple[str, str], ...]

    def __post_init__(self):
        if isinstance(self.runs, Mapping):
            object.__setattr__(self, "runs", tuple(self.runs.items()))

    def source(self, results) -> _Ours:
        return _Contrast(results, dict(self.runs))

    def __str__(self) -> str:
        return "each check read on " + ", ".join(f"{b} for {a}" for a, b in self.runs)


def _budget(examples: float | None) -> str:
    return "final" if examples is None else f"at {fmt_examples(examples)} examples"


# --- checks --------------------------------------------------------------------------------


def _one_bound_and_sorted_where(check, name: str) -> None:
    """A threshold check's own checks: exactly one of ``below``/``above``; ``where`` as sorted pairs."""
    if (check.below is None) == (check.above is None):
        raise ValueError(f"{name}: give exactly one of below= and above=")
    if isinstance(check.where, Mapping):
        object.__setattr__(check, "where", tuple(sorted(check.where.items())))


@dataclasses.dataclass(frozen=True)
class Final:
    """A held-out ``metric`` of ``run`` at a budget against a threshold, seed by seed.

    Attributes:
        run: the run's name in the experiment directory.
        metric: a held-out metric (``loss``, ``accuracy``...).
        below / above: the value must be ``<= below`` / ``>= above`` (one of them).
        relative_to_baseline: thresholds are multiples of the task's trivial baseline loss.
        share: the share of seeds that must pass.
        where: a sweep point (``{"learning_rate": 0.1}``) when the run is a sweep.
        label: a short name for the run in the text (default: ``run``).
        examples: the budget, in training examples seen (steps × batch size); ``None``: the
            last evaluation.
    """

    run: str
    metric: str = "loss"
    below: float | None = None
    above: float | None = None
    relative_to_baseline: bool = False
    share: float = 0.75
    where: Mapping[str, float] | tuple[tuple[str, float], ...] = ()
    label: str = ""
    examples: float | None = None

    def __post_init__(self):
        _one_bound_and_sorted_where(self, f"Final({self.run!r})")

    def evaluate(self, results) -> Outcome:
        return self.read(_Ours(results))

    def read(self, source) -> Outcome:
        values = source.metric(self.run, self.metric, self.examples, dict(self.where))
        scale = source.baseline(self.run) if self.relative_to_baseline else 1.0
        bound = (self.below if self.below is not None else self.above) * scale
        passed = sum((v <= bound) if self.below is not None else (v >= bound) for v in values.values())
        relation = "≤" if self.below is not None else "≥"
        factor = self.below if self.below is not None else self.above
        threshold = f"{factor:g} × baseline ({fmt(bound)})" if self.relative_to_baseline else fmt(bound)
        where = "".join(f", {k} = {v:g}" for k, v in self.where)
        text = f"{self.label or self.run}{where}: {self.metric} {_budget(self.examples)} {relation} {threshold}"
        return Outcome(text, values, int(passed), self.share)


@dataclasses.dataclass(frozen=True)
class Reaches:
    """``run``'s held-out ``metric`` reaches ``above`` at some evaluation up to a budget (the
    stopping rule "solved the first time the error falls below 1%"), seed by seed. The
    quantity is the best value up to the budget."""

    run: str
    metric: str = "accuracy"
    above: float = 0.99
    examples: float | None = None
    share: float = 0.75

    def evaluate(self, results) -> Outcome:
        return self.read(_Ours(results))

    def read(self, source) -> Outcome:
        values = source.best(self.run, self.metric, self.examples)
        passed = sum(v >= self.above for v in values.values())
        budget = "by the end" if self.examples is None else f"by {fmt_examples(self.examples)} examples"
        return Outcome(f"{self.run}: best {self.metric} {budget} ≥ {self.above:g}", values, int(passed), self.share)


@dataclasses.dataclass(frozen=True)
class Beats:
    """``run``'s ``metric`` at a budget is lower (``higher=True``: higher) than ``other``'s for the same seed."""

    run: str
    other: str
    metric: str = "loss"
    higher: bool = False
    share: float = 0.75
    examples: float | None = None

    def evaluate(self, results) -> Outcome:
        return self.read(_Ours(results))

    def read(self, source) -> Outcome:
        mine, theirs = (source.metric(r, self.metric, self.examples, {}) for r in (self.run, self.other))
        seeds = sorted(mine.keys() & theirs.keys())
        values = {s: mine[s] - theirs[s] for s in seeds}
        passed = sum((d > 0) if self.higher else (d < 0) for d in values.values())
        relation = "higher" if self.higher else "lower"
        return Outcome(f"{self.run} {self.metric} {_budget(self.examples)} {relation} than {self.other}'s, same seed "
                       "(difference)", values, int(passed), self.share)


@dataclasses.dataclass(frozen=True)
class Decay:
    """How many decades ‖∂L/∂h_t‖ falls from the last step back to the first, at a budget
    (``examples=0``: at initialisation), against a threshold (``at_least``: vanishing;
    ``at_most``: carried back)."""

    run: str
    examples: float | None = 0
    at_least: float | None = None
    at_most: float | None = None
    share: float = 0.75

    def __post_init__(self):
        if (self.at_least is None) == (self.at_most is None):
            raise ValueError(f"Decay({self.run!r}): give exactly one of at_least= and at_most=")

    def evaluate(self, results) -> Outcome:
        return self.read(_Ours(results))

    def read(self, source) -> Outcome:
        values = source.decades(self.run, self.examples)
        if self.at_least is not None:
            passed, text = sum(v >= self.at_least for v in values.values()), f"≥ {self.at_least:g}"
        else:
            passed, text = sum(v <= self.at_most for v in values.values()), f"≤ {self.at_most:g}"
        when = "at initialisation" if self.examples == 0 else _budget(self.examples)
        return Outcome(f"{self.run} {when}: decades ‖∂L/∂h_t‖ falls from t = T to t = 0 {text}",
                       values, int(passed), self.share)


@dataclasses.dataclass(frozen=True)
class CarriesFurther:
    """At a budget, ‖∂L/∂h_t‖ of ``run`` falls fewer decades over the sequence than
    ``other``'s, seed by seed."""

    run: str
    other: str
    examples: float | None = None
    share: float = 0.75

    def evaluate(self, results) -> Outcome:
        return self.read(_Ours(results))

    def read(self, source) -> Outcome:
        mine, theirs = (source.decades(r, self.examples) for r in (self.run, self.other))
        seeds = sorted(mine.keys() & theirs.keys())
        values = {s: theirs[s] - mine[s] for s in seeds}
        return Outcome(f"{self.run} carries ‖∂L/∂h_t‖ further back than {self.other} {_budget(self.examples)} "
                       "(decades fewer)", values, int(sum(v > 0 for v in values.values())), self.share)


Check = Final | Reaches | Beats | Decay | CarriesFurther


class Budget:
    """The kinds of verdict: at the source's own budget, or at a scaled one."""

    PAPER = "paper budget"

    @staticmethod
    def scaled(examples: float) -> str:
        return f"at {fmt_examples(examples)} examples"


@dataclasses.dataclass(frozen=True)
class Measured:
    """A claim about a measurement, not a training run: the experiment returns a table (one
    row per seed and setting) and ``column`` at the rows matching ``where`` is compared with a
    threshold, seed by seed (``experiments.newton_iterations``, ``experiments.dynamics``).

    Attributes:
        column: the measured quantity (``iterations``, ``lyapunov``...).
        where: the setting, ``{"g": 0.5, "T": 1000}`` (a string value is matched exactly,
            ``{"cell": "lstm"}``).
        below / above: the value must be ``<= below`` / ``>= above`` (one of them).
        share: the share of seeds that must pass.
        nearest: read each number of ``where`` at the nearest value the table has (a
            ``--quick`` run measures fewer settings; :meth:`Claim.evaluate` sets it then).
    """

    column: str
    where: Mapping[str, float | str] | tuple[tuple[str, float | str], ...] = ()
    below: float | None = None
    above: float | None = None
    share: float = 0.75
    nearest: bool = False
    examples: None = None  # no training budget

    def __post_init__(self):
        _one_bound_and_sorted_where(self, f"Measured({self.column!r})")

    def evaluate(self, table) -> Outcome:
        rows = table
        for name, value in self.where:
            if isinstance(value, str):
                rows = rows[rows[name] == value]
                continue
            present = rows[name].dropna().unique()
            if self.nearest and len(present):
                value = present[np.argmin(np.abs(present - value))]
            rows = rows[np.isclose(rows[name], value)]
        values = {int(seed): float(v) for seed, v in zip(rows.seed, rows[self.column])}
        bound = self.below if self.below is not None else self.above
        passed = sum((v <= bound) if self.below is not None else (v >= bound) for v in values.values())
        where = ", ".join(f"{k} = {v}" if isinstance(v, str) else f"{k} = {v:g}" for k, v in self.where)
        return Outcome(f"{where + ': ' if where else ''}{self.column} {'≤' if self.below is not None else '≥'} {fmt(bound)}", values,
                       int(passed), self.share)


@dataclasses.dataclass(frozen=True)
class Claim:
    """A published result and how we check it.

    Attributes:
        name: short identifier (``--only NAME``).
        source: the publication and figure or table.
        published: what the source shows, in words, with its numbers and budget.
        config: the claim's setup, as the ``Config`` of the experiment module that makes the
            runs (``experiments.NAME``); its command line is generated from it.
        setup: the setup, and how it differs from the source's and why.
        checks: what must hold; each written so that the published points pass it.
        quick: with ``--quick``, values that replace what ``config`` made large, after the
            experiment's --quick preset (which fills only the fields ``config`` left at
            their defaults).
        figure: the experiment's figure that shows the claim (drawn without the published points).
        points: the published curves (:class:`Published`), drawn over our runs.
        verdict: the kind of verdict, :attr:`Budget.PAPER` or ``Budget.scaled(N)``.
        not_run: why a ``paper_only`` claim was not run on this machine, with its estimated
            wall time from a measured run (empty: it was run); the report lists it so.
        paper_only: run only by ``experiments.reproduce --paper`` (the source's budget takes
            longer than the default suite can spend).
        metric: the metric the claim's figure draws (``loss``, ``accuracy`` or ``decades``).
        control: what must fail the claim's checks (:class:`Untrained`, :class:`Contrast`):
            a claim whose checks its control passes as well could not have failed, and does
            not hold. ``None`` for a claim about a measurement (:class:`Measured`).
        direction: the source states only a direction (A beats B, X grows), no value to
            reach: its verdict is "direction holds", counted apart from "holds at the
            published value".
        thresholds: where the thresholds come from, when they were set after a run of the
            claim (printed in its section, so that a reader knows they were not fixed before
            every run); empty when they were fixed before the first.
        tried: the differences from the source tried, one run each, and what each measured
            (the diagnosis of a miss; the section lists them, and what is left untried).
    """

    name: str
    source: str
    published: str
    config: Any
    setup: str
    checks: tuple[Any, ...]
    quick: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    figure: str = ""
    points: tuple[Published, ...] = ()
    verdict: str = Budget.PAPER
    paper_only: bool = False
    metric: str = "loss"
    not_run: str = ""
    control: Untrained | Contrast | None = None
    direction: bool = False
    thresholds: str = ""
    tried: tuple[str, ...] = ()

    @property
    def experiment(self) -> str:
        """The experiment module's name (``adding_problem``)."""
        return type(self.config).__module__.rpartition(".")[2]

    def command(self, run_dir: str, *, quick: bool = False) -> list[str]:
        """The experiment's command line (``python -m`` and its arguments)."""
        from experiments import _common

        quick_part = ["--quick", *(w for k, v in self.quick.items() for w in _common.flag(k, v))] if quick else []
        return ["python", "-m", f"experiments.{self.experiment}", *_common.argv(self.config), *quick_part,
                "--run-dir", run_dir]

    def evaluate(self, results, *, at_end: bool = False) -> list[Outcome]:
        """Every check on our runs; ``at_end`` reads each budgeted check at the runs' last
        evaluation instead, and each measured one at the nearest setting measured (for a
        ``--quick`` run, which stops long before any budget and measures fewer settings)."""
        return [check.evaluate(results) for check in self._checks(at_end)]

    def _checks(self, at_end: bool) -> list:
        checks = list(self.checks)
        if at_end:
            checks = [dataclasses.replace(c, examples=None) if c.examples else c for c in checks]
            checks = [dataclasses.replace(c, nearest=True) if isinstance(c, Measured) else c for c in checks]
        return checks

    def evaluate_control(self, results, *, at_end: bool = False) -> list[Outcome] | None:
        """Every check read on the claim's control (``None`` without one)."""
        if self.control is None:
            return None
        source = self.control.source(results)
        return [check.read(source) for check in self._checks(at_end)]

    def measured(self, results):
        """Our runs of the claim's published curves as a tidy frame (``run``, ``cell``,
        ``seed``, ``examples``, ``value``) of :attr:`metric` at every recorded step, for the
        figure."""
        import pandas as pd

        ours, rows = _Ours(results), []
        for run in dict.fromkeys(p.run for p in self.points):
            info = results.runs[results.runs.run == run]
            if info.empty:
                continue
            batch, cell = float(info.batch_size.iloc[0]), info.cell.iloc[0]
            if self.metric == "decades":
                frame = results.grad_norms[results.grad_norms.run == run]
                budgets = {int(s) * batch: ours.decades(run, int(s) * batch) for s in sorted(frame.step.unique())}
                rows += [{"run": run, "cell": cell, "seed": seed, "examples": n, "value": v}
                         for n, values in budgets.items() for seed, v in values.items()]
            else:  # every evaluation, read in one pass
                frame = ours.evaluations(run, self.metric)
                rows += [{"run": run, "cell": cell, "seed": int(seed), "examples": float(step) * batch, "value": float(v)}
                         for seed, step, v in zip(frame.seed, frame.step, frame.value)]
        return pd.DataFrame(rows, columns=["run", "cell", "seed", "examples", "value"])

    def draw(self, results, title: str | None = None):
        """Our seed bands with the published points over them, against examples seen."""
        from rnn_jax.analysis import plots

        ours = _Ours(results)
        baselines = {p.run: ours.baseline(p.run) for p in self.points if p.baseline is not None}
        baselines = {r: b for r, b in baselines.items() if math.isfinite(b)}
        ylabel = {"decades": "decades ‖∂L/∂h_t‖ falls, t = T → 0", "loss": "held-out loss"}.get(
            self.metric, f"held-out {self.metric}")
        return plots.against_published(self.measured(results), self.points, baselines=baselines, ylabel=ylabel,
                                       title=title or f"{self.name}: ours (bands: 95% CI over seeds) and {self.source}")

    def evaluate_published(self) -> list[Outcome]:
        """Every check read off the published points (one 'seed': the source)."""
        source = _Paper(self.points)
        return [check.read(source) for check in self.checks]


def holds(outcomes: Sequence[Outcome], control: Sequence[Outcome] | None = None) -> bool:
    """Every check holds, and (given the control's outcomes) the control does not pass them all."""
    return bool(outcomes) and all(o.holds for o in outcomes) and not (control and all(c.holds for c in control))
