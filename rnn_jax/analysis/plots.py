"""Figures from :class:`rnn_jax.io.results.Results`: each function returns a matplotlib Figure.

Lines are seed means (geometric means on log axes) with a 95% confidence band for the mean
over seeds (mean ± t·s/√n, on the log scale for log axes);
colours are the Okabe–Ito colour-blind-safe palette, each cell keeping its colour in every
figure. :func:`save` writes PNG, and PDF inside ``with formats("png", "pdf")``. No pyplot state is touched, so the functions work
in scripts, tests and notebooks alike (display a Figure in Jupyter by evaluating it).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import warnings
from collections.abc import Sequence

import numpy as np

# Okabe & Ito 2008, "Color universal design": distinguishable with every common colour-vision deficiency.
OKABE_ITO = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]
CELL_COLOURS = {"rnn": OKABE_ITO[0], "lstm": OKABE_ITO[1], "gru": OKABE_ITO[2], "irnn": OKABE_ITO[3],
                "exprnn": OKABE_ITO[4], "lru": OKABE_ITO[5], "mingru": OKABE_ITO[7], "minlstm": "#999999",
                # the remedy zoo, in Paul Tol's muted palette (also safe for colour-vision deficiencies)
                "urnn": "#882255", "scornn": "#44AA99", "indrnn": "#332288", "cornn": "#DDCC77", "lem": "#117733",
                "antisymmetric": "#AA4499"}
CELL_LABELS = {"rnn": "tanh RNN", "lstm": "LSTM", "gru": "GRU", "irnn": "IRNN", "exprnn": "expRNN", "lru": "LRU",
               "mingru": "minGRU", "minlstm": "minLSTM", "urnn": "uRNN", "scornn": "scoRNN", "indrnn": "IndRNN",
               "cornn": "coRNN", "lem": "LEM", "antisymmetric": "AntisymmetricRNN"}


CELL_FAMILIES = {"plain RNN": ("rnn", "irnn"), "gated": ("lstm", "gru"), "minimal gated": ("mingru", "minlstm"),
                 "orthogonal, unitary": ("exprnn", "scornn", "urnn"), "element-wise, diagonal": ("indrnn", "lru"),
                 "oscillator, ODE": ("cornn", "lem", "antisymmetric")}
"""The cell families of figures that draw every cell at once (the atlas): one colour per family."""
FAMILY_COLOURS = dict(zip((*CELL_FAMILIES, "your cells"), OKABE_ITO[:6] + ["#000000"]))


def family(cell: str) -> tuple[str, str, str]:
    """``(family, colour, marker)`` of ``cell``: its family's colour, a marker per member of
    the family; a cell of no family (your own) is in "your cells", black."""
    for name, members in CELL_FAMILIES.items():
        if cell in members:
            return name, FAMILY_COLOURS[name], "osd"[members.index(cell)]
    return "your cells", FAMILY_COLOURS["your cells"], "*"


DASHES = [(0, (5, 3)), (0, (1, 2)), (0, (8, 2, 1, 2)), (0, (3, 1, 1, 1, 1, 1))]  # one per baseline


def _figure(ncols: int = 1, width: float = 4.2, height: float = 3.2):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, axes


def colour(name: str, index: int) -> str:
    """The colour of cell ``name`` (its fixed colour, else the ``index``-th of the Okabe-Ito palette)."""
    return CELL_COLOURS.get(name, OKABE_ITO[(index + 4) % len(OKABE_ITO)])


def label(name: str) -> str:
    """The legend label of cell ``name`` (``"lstm"`` -> ``"LSTM"``), else the name itself."""
    return CELL_LABELS.get(name, name)


def run_style(name: str, cell: str, index: int, *, beside_its_cell: bool = True) -> dict[str, str]:
    """Colour, label and line style of a run: a run named after its cell is a solid line in
    the cell's colour; a variant of it (``lstm_torch_init``) drawn beside it is dashed, in the
    same colour, labelled ``LSTM (torch init)``. Variants drawn without their cell's run
    (``exprnn_T100``, ``exprnn_T200``...) get a colour each, by ``index``."""
    if name == cell:
        return {"color": colour(cell, index), "label": label(cell), "linestyle": "-"}
    if name.startswith(cell + "_"):
        variant = name[len(cell) + 1 :].replace("_", " ")
        if not beside_its_cell:
            return {"color": OKABE_ITO[index % len(OKABE_ITO)], "label": f"{label(cell)} ({variant})", "linestyle": "-"}
        return {"color": colour(cell, index), "label": f"{label(cell)} ({variant})", "linestyle": "--"}
    return {"color": colour(name, index), "label": label(name), "linestyle": "-"}


def band(values: np.ndarray, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and the confidence band of the mean over axis 0 (seeds): ``(mean, low, high)``.

    The band is mean ± t_{n-1} · s / sqrt(n) (Student t, n finite seeds at each point).
    """
    from scipy import stats

    values = np.asarray(values, dtype=np.float64)
    n = np.sum(np.isfinite(values), axis=0)
    with warnings.catch_warnings():  # points with no finite value (e.g. a gradient that
        warnings.simplefilter("ignore", RuntimeWarning)  # underflowed to 0 in every seed) stay NaN
        mean = np.nanmean(values, axis=0)
        if values.shape[0] < 2:
            return mean, mean, mean
        sem = np.nanstd(values, axis=0, ddof=1) / np.sqrt(np.maximum(n, 1))
    half = stats.t.ppf(0.5 + confidence / 2, np.maximum(n - 1, 1)) * sem
    return mean, mean - half, mean + half


BOUNDED = {"accuracy": (0.0, 1.0)}
"""Metrics whose values, and so whose mean, lie in a known range: their band is clipped to it
(with 2 seeds the t-band of the mean is ±12.7 standard errors wide)."""


def _line(ax, x, values, style: dict[str, str], *, log=False, markers: bool = False, limits=(-np.inf, np.inf)):
    """The mean over seeds with its band, clipped to ``limits`` (the values the quantity can
    take); ``markers`` puts a dot on every measured point."""
    if log:  # quantities spanning decades: geometric mean and a band on the log scale
        values = np.where(np.asarray(values) > 0, values, np.nan)
        mean, low, high = (10.0**v for v in band(np.log10(values)))
    else:
        mean, low, high = band(values)
    low, high = np.clip(low, *limits), np.clip(high, *limits)
    ax.plot(x, mean, linewidth=1.6, **style, **({"marker": "o", "markersize": 2.5} if markers else {}))
    ax.fill_between(x, low, high, color=style["color"], alpha=0.2, linewidth=0)


def _pivot(frame, index: str, columns: str = "member"):
    table = frame.pivot_table(index=index, columns=columns, values="value", aggfunc="mean").sort_index()
    return table.index.to_numpy(), table.to_numpy().T  # x, [seeds, x]


def _runs(results, runs: Sequence[str] | None):
    """``(name, cell, style)`` of each run to draw (see :func:`run_style`)."""
    names = list(results.runs.run) if runs is None else list(runs)
    cells = dict(zip(results.runs.run, results.runs.cell))
    return [(name, cells[name], run_style(name, cells[name], i, beside_its_cell=cells[name] in names))
            for i, name in enumerate(names)]


def _draw_runs(ax, results, frame, x: str, *, runs, log: bool, markers: bool = False,
               limits=(-np.inf, np.inf)) -> None:
    """One line per run of ``frame``: the mean over members against ``x``, with its band."""
    for name, _, style in _runs(results, runs):
        part = frame[frame.run == name]
        if not part.empty:
            xs, values = _pivot(part, x)
            _line(ax, xs, values, style, log=log, markers=markers, limits=limits)


def _baselines(ax, results, runs) -> None:
    """Each trivial baseline labelled with the runs it belongs to, a dash pattern each."""
    shown = results.runs if runs is None else results.runs[results.runs.run.isin(list(runs))]
    for i, (value, rows) in enumerate(shown.groupby(shown.baseline_loss.round(6), sort=True)):
        names = list(rows.run)
        who = ", ".join(names) if len(names) <= 3 else f"{len(names)} runs"
        ax.axhline(value, color="0.3", linestyle=DASHES[i % len(DASHES)], linewidth=1.0,
                   label=f"baseline of {who} ({value:.3g})")


def learning_curves(results, metric: str = "loss", *, split: str = "eval", runs=None, log: bool | None = None,
                    baseline: bool = True, title: str | None = None):
    """``metric`` against step: one line per run, band over seeds, trivial baseline dashed.

    Args:
        results: from :func:`rnn_jax.io.results.load`.
        metric: a metric name (``loss``, ``accuracy``, ``skill``...).
        split: ``"eval"`` (held-out) or ``"train"`` (per training step).
        runs: which runs (default: all), in legend order.
        log: log y axis (default: for losses).
        baseline: draw the task's trivial-baseline loss (loss only).
    """
    frame = getattr(results, split)
    fig, (ax,) = _figure(1, 5.0, 3.4)
    is_loss = metric == "loss"
    log = is_loss if log is None else log
    _draw_runs(ax, results, frame[frame.metric == metric], "step", runs=runs, log=log, markers=split == "eval",
               limits=BOUNDED.get(metric, (-np.inf, np.inf)))
    if baseline and is_loss:
        _baselines(ax, results, runs)
    ax.set_xlabel("training step")
    ax.set_ylabel(f"{'held-out' if split == 'eval' else 'training'} {metric}")
    if log:
        ax.set_yscale("log")
    ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    return fig


def grad_norms(results, *, steps: Sequence[int] | None = None, runs=None, layer: int = 0, title: str | None = None):
    """‖∂L/∂h_t‖ against t on a log axis: one panel per recorded step (default: first and
    last, i.e. at initialisation and after training), one line per run, band over seeds."""
    frame = results.grad_norms
    frame = frame[frame.layer == layer]
    recorded = sorted(frame.step.unique())
    steps = [recorded[0], recorded[-1]] if steps is None else list(steps)
    steps = list(dict.fromkeys(steps))
    fig, axes = _figure(len(steps), 4.2, 3.4)
    for ax, step in zip(axes, steps):
        _draw_runs(ax, results, frame[frame.step == step], "t", runs=runs, log=True)
        ax.set_yscale("log")
        ax.set_xlabel("time step t")
        ax.set_title("at initialisation" if step == 0 else f"after {step} steps", fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(r"$\|\partial L / \partial h_t\|$")
    axes[0].legend(frameon=False, fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def _summary_line(ax, rows, x: str, colour_: str, name: str) -> None:
    """Mean over seeds against ``x`` with the min–max range as a band (rows of a summary).
    Points whose mean is not finite (a member diverged) are marked ✕ at the top of the axes."""
    rows = rows.sort_values(x)
    ax.plot(rows[x], rows["mean"], marker="o", color=colour_, label=name)
    ax.fill_between(rows[x], rows["min"], rows["max"], color=colour_, alpha=0.15, linewidth=0)
    diverged = rows[~np.isfinite(rows["mean"].to_numpy(dtype=float))]
    if len(diverged):
        ax.scatter(diverged[x], np.full(len(diverged), 0.97), marker="x", color=colour_, s=40,
                   transform=ax.get_xaxis_transform(), label=f"{name}: diverged", clip_on=False)


def _finish_summary(fig, ax, metric: str, title: str | None):
    ax.set_ylabel(f"final held-out {metric}")
    if metric == "loss":  # losses span decades: solved runs sit orders of magnitude below the baseline
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=8)
    if title:
        ax.set_title(title)
    return fig


def success_vs_length(summary_frame, *, threshold: float | None = None, metric: str = "accuracy", title: str | None = None):
    """Success (mean final ``metric`` over seeds, with min–max) against sequence length.

    Args:
        summary_frame: from :func:`rnn_jax.io.results.summary` over runs of several lengths.
        threshold: draw a horizontal line at the "solved" level.
    """
    fig, (ax,) = _figure(1, 5.0, 3.4)
    part = summary_frame[summary_frame.metric == metric]
    for i, (cell, rows) in enumerate(part.groupby("cell", sort=False)):
        _summary_line(ax, rows, "seq_len", colour(cell, i), label(cell))
    if threshold is not None:
        ax.axhline(threshold, color="0.3", linestyle="--", linewidth=1.0, label=f"solved ({threshold:g})")
    ax.set_xlabel("sequence length T")
    return _finish_summary(fig, ax, metric, title)


def spectra(results, *, runs=None, title: str | None = None):
    """Spectral radius and largest singular value of W_hh (layer 0, per gate, mean over
    seeds and gates) against training step."""
    frame = results.spectra
    frame = frame[(frame.layer == 0) & (frame.direction == 0)]
    fig, axes = _figure(2, 4.2, 3.2)
    for name, _, style in _runs(results, runs):
        part = frame[frame.run == name]
        if part.empty:
            continue
        for ax, column in zip(axes, ("radius", "sigma_max")):
            table = part.pivot_table(index="step", columns="member", values=column, aggfunc="mean").sort_index()
            _line(ax, table.index.to_numpy(), table.to_numpy().T, style, markers=True)
    for ax, text in zip(axes, ("spectral radius of $W_{hh}$", r"largest singular value $\sigma_1(W_{hh})$")):
        ax.axhline(1.0, color="0.3", linestyle=":", linewidth=1.0)
        ax.set_xlabel("training step")
        ax.set_ylabel(text)
        ax.grid(alpha=0.3)
    axes[0].legend(frameon=False, fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def lyapunov(results, *, runs=None, title: str | None = None):
    """The first layer's largest Lyapunov exponents (mean over seeds, band across them)
    against their index, at initialisation (dashed) and at the last diagnostics step (solid),
    one line per run: a cell in the ordered phase has them all below 0."""
    frame = results.lyapunov
    fig, axes = _figure()
    ax = axes[0]
    for name, _, style in _runs(results, runs):
        part = frame[frame.run == name] if len(frame) else frame
        if part.empty:
            continue
        for step, dashes in ((part.step.min(), ":"), (part.step.max(), "-")):
            table = part[part.step == step].pivot_table(index="index", columns="member", values="value")
            label = f"{style.get('label', name)}, step {step}"
            _line(ax, table.index.to_numpy() + 1, table.to_numpy().T,
                  {**style, "linestyle": dashes, "label": label}, markers=True)
    ax.axhline(0.0, color="0.3", linestyle=":", linewidth=1.0)
    ax.set(xlabel="index i (1: the largest)", ylabel="Lyapunov exponent λ_i (per step)")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=7)
    if title:
        fig.suptitle(title)
    return fig


def eigenvalues(results, *, runs=None, member: int = 0, title: str | None = None):
    """The eigenvalues of the recurrent matrix on the complex plane, at initialisation (grey
    rings) and after training (filled, the run's colour), one panel per run with a recurrent
    matrix (layer 0, forward direction, every gate block, one member). The unit circle is
    dotted: the orthogonal cell's eigenvalues stay on it, the LRU's start in its ring."""
    frame = results.eigenvalues
    frame = frame[(frame.layer == 0) & (frame.direction == 0) & (frame.member == member)] if len(frame) else frame
    shown = [(name, style) for name, _, style in _runs(results, runs) if len(frame) and (frame.run == name).any()]
    if not shown:
        raise ValueError("no eigenvalues recorded: the runs' cells have no recurrent matrix (mingru, minlstm), "
                         "or no diagnostics were recorded")
    from matplotlib.figure import Figure

    columns = min(len(shown), 4)
    rows = -(-len(shown) // columns)
    fig = Figure(figsize=(3.0 * columns, 3.1 * rows), layout="constrained")
    grid = fig.subplots(rows, columns, squeeze=False)
    axes = grid.ravel()
    for ax in axes[len(shown):]:
        ax.set_visible(False)
    reach = max(1.1, 1.05 * float(np.max(np.hypot(frame.real, frame.imag))))
    circle = np.exp(1j * np.linspace(0, 2 * np.pi, 256))
    for ax, (name, style) in zip(axes, shown):
        part = frame[frame.run == name]
        first, last = part.step.min(), part.step.max()
        ax.plot(circle.real, circle.imag, color="0.3", linestyle=":", linewidth=1.0)
        init, trained = part[part.step == first], part[part.step == last]
        ax.scatter(init.real, init.imag, s=14, facecolors="none", edgecolors="0.55", linewidths=0.8,
                   label=f"step {first}")
        ax.scatter(trained.real, trained.imag, s=10, color=style["color"], label=f"step {last}")
        ax.set_title(style["label"], fontsize=10)
        ax.set_xlim(-reach, reach)
        ax.set_ylim(-reach, reach)
        ax.set_aspect("equal")
        ax.grid(alpha=0.3)
    for ax in grid[-1]:
        ax.set_xlabel("Re λ")
    for ax in grid[:, 0]:
        ax.set_ylabel("Im λ")
    axes[0].legend(frameon=False, fontsize=8, loc="lower left")
    if title:
        fig.suptitle(title)
    return fig


def sweep_curves(summary_frame, x: str, *, metric: str = "loss", log_x: bool = True, baseline: float | None = None,
                 group: str = "run", title: str | None = None):
    """Final ``metric`` (mean and min–max over seeds) against a swept hyperparameter ``x``,
    one line per ``group``."""
    fig, (ax,) = _figure(1, 5.0, 3.4)
    part = summary_frame[summary_frame.metric == metric]
    for i, (name, rows) in enumerate(part.groupby(group, sort=False)):
        _summary_line(ax, rows, x, OKABE_ITO[i % len(OKABE_ITO)], str(name))
    if baseline is not None:
        ax.axhline(baseline, color="0.3", linestyle="--", linewidth=1.0, label=f"trivial baseline ({baseline:.3g})")
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(x.replace("_", " "))
    return _finish_summary(fig, ax, metric, title)


RULE_LABELS = {"bptt": "BPTT", "tbptt": "truncated BPTT", "rtrl": "RTRL", "uoro": "UORO", "snap1": "SnAp-1",
               "snap2": "SnAp-2", "diagonal": "diagonal (Zucchet et al.)"}
"""Legend labels of the gradient rules (:class:`rnn_jax.credit.Rule`, and ``tbptt``)."""
RULE_COLOURS = dict(zip(RULE_LABELS, [OKABE_ITO[i] for i in (0, 1, 2, 3, 4, 7, 5)]))
"""Each gradient rule's colour, the same in every figure (Okabe–Ito)."""


def _rule_panels(frame, xlabel: str):
    """One panel per cell of ``frame`` (columns ``cell``, ``rule``...): the figure, and for each
    panel its axes and ``(rows, colour, label)`` per rule."""
    cells = list(dict.fromkeys(frame.cell))
    fig, axes = _figure(len(cells), 3.8, 3.2)
    panels = []
    for ax, cell in zip(axes, cells):
        ax.set_title(label(cell))
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
        lines = [(rows, RULE_COLOURS.get(rule, "0.5"), RULE_LABELS.get(rule, rule))
                 for rule, rows in frame[frame.cell == cell].groupby("rule", sort=False)]
        panels.append((ax, lines))
    return fig, panels


def _finish_rule_panels(fig, panels, ylabel: str, title: str | None, baseline: float | None = None):
    for ax, _ in panels:
        if baseline is not None:
            ax.axhline(baseline, color="0.3", linestyle="--", linewidth=1.0, label=f"memoryless ({baseline:.3g})")
    panels[0][0].set_ylabel(ylabel)
    panels[-1][0].legend(frameon=False, fontsize=7)
    if title:
        fig.suptitle(title)
    return fig


def by_lag(frame, *, ylabel: str, window: int | None = None, baseline: float | None = None, log: bool = False,
           title: str | None = None):
    """A quantity against the lag of a task's dependency, one panel per cell, one line per
    gradient rule (mean over seeds, min–max band).

    Args:
        frame: columns ``cell``, ``rule``, ``lag``, ``mean``, ``min``, ``max``.
        ylabel: the quantity.
        window: mark the truncation window ``k`` (a dotted vertical line).
        baseline: the memoryless level (a dashed horizontal line).
        log: log y axis.
    """
    fig, panels = _rule_panels(frame, "lag of the dependency (steps)")
    lags = sorted(frame.lag.unique())
    for ax, lines in panels:
        for rows, colour_, name in lines:
            _summary_line(ax, rows, "lag", colour_, name)
        if window is not None:
            ax.axvline(window, color="0.5", linestyle=":", linewidth=1.0, label=f"window k = {window}")
        ax.set_xscale("log", base=2)
        ax.set_xticks(lags, [str(lag) for lag in lags])
        ax.minorticks_off()
        if log:
            ax.set_yscale("log")
    return _finish_rule_panels(fig, panels, ylabel, title, baseline)


def curves_by_rule(frame, *, ylabel: str, baseline: float | None = None, title: str | None = None):
    """Held-out curves against the training step, one panel per cell, one line per gradient
    rule (mean over seeds, min–max band), in :func:`by_lag`'s colours.

    Args:
        frame: columns ``cell``, ``rule``, ``step``, ``value`` (one row per seed and step).
        ylabel: the quantity.
        baseline: the memoryless level (a dashed horizontal line).
    """
    fig, panels = _rule_panels(frame, "training step")
    for ax, lines in panels:
        for rows, colour_, name in lines:
            spread = rows.groupby("step").value.agg(["mean", "min", "max"])
            ax.plot(spread.index, spread["mean"], marker="o", markersize=3, color=colour_, label=name)
            ax.fill_between(spread.index, spread["min"], spread["max"], color=colour_, alpha=0.15, linewidth=0)
    return _finish_rule_panels(fig, panels, ylabel, title, baseline)


def against_published(measured, published, *, baselines=None, ylabel: str = "held-out loss", log: bool = False,
                      title: str | None = None):
    """Our runs against a source's curves, on one axis of training examples seen.

    One panel per trivial baseline (a task setting, e.g. T = 100 and T = 200 side by side).
    Our runs: the mean over seeds with its 95% band, a marker on every measured point, in the
    cell's colour. The source's points: the same colour, dashed, open squares, labelled with
    the source's name for the model. Each baseline is labelled with the runs it belongs to.

    Args:
        measured: a DataFrame with columns ``run``, ``cell``, ``seed``, ``examples``, ``value``.
        published: curves with ``run``, ``points`` ((examples, value) pairs) and ``label``
            (:class:`experiments.claims.Published`).
        baselines: ``{run: trivial baseline}`` (``None``: no baselines, one panel).
        ylabel: the quantity.
        log: log y axis.
    """
    baselines = dict(baselines or {})
    runs = list(dict.fromkeys([*measured.run.unique(), *(p.run for p in published)]))
    keys = list(dict.fromkeys(round(baselines[r], 6) if r in baselines else None for r in runs))
    fig, axes = _figure(len(keys), 4.6, 3.4)
    cells = dict(zip(measured.run, measured.cell))
    for ax, key in zip(axes, keys):
        in_panel = [r for r in runs if (round(baselines[r], 6) if r in baselines else None) == key]
        for i, run in enumerate(in_panel):
            cell = cells.get(run, run.split("_")[0])
            style = {"color": colour(cell, i), "label": f"{run} (ours)", "linestyle": "-"}
            part = measured[measured.run == run]
            if not part.empty:
                table = part.pivot_table(index="examples", columns="seed", values="value", aggfunc="mean").sort_index()
                _line(ax, table.index.to_numpy(), table.to_numpy().T, style, log=log, markers=True)
            for curve in (p for p in published if p.run == run):
                xs, ys = zip(*curve.points)
                ax.plot(xs, ys, linestyle="--", marker="s", markersize=5, markerfacecolor="white",
                        color=style["color"], linewidth=1.0, label=f"{curve.label or run} (published)")
        if key is not None:
            ax.axhline(key, color="0.3", linestyle=":", linewidth=1.2,
                       label=f"baseline of {', '.join(in_panel)} ({key:.3g})")
            if not log:  # the source's scale: the first steps' large losses would flatten the rest
                top = max([key, *(v for p in published if p.run in in_panel for _, v in p.points)])
                ax.set_ylim(0, 1.6 * top)
        ax.set_xlabel("training examples seen")
        ax.grid(alpha=0.3)
        if log:
            ax.set_yscale("log")
        ours_end = measured[measured.run.isin(in_panel)].examples.max()
        theirs = [n for p in published if p.run in in_panel for n, _ in p.points if n > 0]
        if theirs and np.isfinite(ours_end) and max(theirs) > 5 * max(ours_end, 1.0):
            # a scaled budget: our runs end long before the source's curve; both stay readable
            ax.set_xscale("symlog", linthresh=min(theirs + [ours_end]) / 2)
            ax.set_xlim(left=0)
            ax.axvline(ours_end, color="0.6", linewidth=0.8, label=f"our budget ({ours_end:,.0f} examples)")
        ax.legend(frameon=False, fontsize=7)
    axes[0].set_ylabel(ylabel)
    if title:
        import textwrap

        fig.suptitle(textwrap.fill(title, 45 * len(keys) + 20), fontsize=9)
    return fig


_FORMATS: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("formats", default=("png",))


@contextlib.contextmanager
def formats(*extensions: str):
    """Within the block, :func:`save` writes these formats as well as PNG (default: PNG
    only; a PDF of a figure takes about as long as its PNG, and is asked for with ``--pdf``)."""
    unknown = sorted(set(extensions) - {"png", "pdf", "svg"})
    if not extensions or unknown:
        raise ValueError(f"formats{extensions}: expected some of png, pdf, svg")
    token = _FORMATS.set(tuple(extensions))
    try:
        yield
    finally:
        _FORMATS.reset(token)


def save(fig, directory: str | os.PathLike, name: str) -> list[str]:
    """Writes ``name.png`` (150 dpi) into ``directory``, and the other :func:`formats` asked
    for; returns the paths, the PNG first."""
    os.makedirs(directory, exist_ok=True)
    paths = []
    for ext in dict.fromkeys(("png", *_FORMATS.get())):
        path = os.path.join(os.fspath(directory), f"{name}.{ext}")
        fig.savefig(path, dpi=150 if ext == "png" else None)
        paths.append(path)
    return paths
