"""The members of a run: the seeds × sweep grid, flattened onto one leading axis.

Member ``m`` is seed ``seeds[m % S]`` at sweep point ``m // S``; each sweep point is one
combination of the swept values (the grid of all combinations, first name slowest).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from rnn_jax import _checks
from rnn_jax.training.hparams import SWEEPABLE


@dataclasses.dataclass(frozen=True)
class Members:
    """The seeds × sweep grid (see the module docstring)."""

    seeds: tuple[int, ...]
    sweep: tuple[tuple[str, tuple[float, ...]], ...]

    @property
    def points(self) -> list[dict[str, float]]:
        names = [name for name, _ in self.sweep]
        return [dict(zip(names, values)) for values in itertools.product(*(v for _, v in self.sweep))]

    def __len__(self) -> int:
        return len(self.seeds) * len(self.points)

    def table(self, defaults: Mapping[str, Any]) -> list[dict[str, Any]]:
        """One row per member: ``member``, ``seed`` and every hyperparameter's value
        (``defaults`` for those not swept)."""
        defaults = {k: float(v) for k, v in defaults.items()}
        rows = []
        for point in self.points:
            for seed in self.seeds:
                rows.append({"member": len(rows), "seed": seed, **defaults, **point})
        return rows

    def stacked(self, defaults: Mapping[str, Any]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Each member's seed ``[M]`` uint32 and hyperparameters ``{name: [M]}`` float32 as host
        arrays (the keys are made on the devices from the seeds)."""
        rows = self.table(defaults)
        names = list(defaults) + [n for n, _ in self.sweep if n not in defaults]
        seeds = np.asarray([row["seed"] for row in rows], np.uint32)
        return seeds, {n: np.asarray([row[n] for row in rows], np.float32) for n in names}

    def identity(self) -> dict[str, Any]:
        """The part of a run's identity that the grid fixes (for ``config.json``)."""
        return {"seeds": list(self.seeds), "sweep": {name: list(values) for name, values in self.sweep}}


def make_members(seeds: int | Sequence[int], sweep: Mapping[str, Any] | None) -> Members:
    """Checks ``seeds`` (how many, or which) and ``sweep`` (``{name: values}``) and builds the grid."""
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        seeds = tuple(range(_checks.positive_int(seeds, "seeds")))
    elif isinstance(seeds, Iterable) and not isinstance(seeds, (str, bytes)):
        seeds = tuple(seeds)
        if not seeds:
            raise ValueError("seeds=() must name at least one seed")
        for s in seeds:
            _checks.nonneg_int(s, "seeds[i]")
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds={seeds} repeats a seed")
    else:
        raise TypeError(f"seeds={seeds!r} must be a positive int (how many) or a sequence of ints")
    grid = []
    for name, values in (sweep or {}).items():
        if name not in SWEEPABLE:
            raise ValueError(f"sweep key {name!r} is not sweepable; expected one of {', '.join(SWEEPABLE)}")
        try:
            values = np.atleast_1d(np.asarray(values, dtype=float))
        except (TypeError, ValueError):
            raise ValueError(f"sweep[{name!r}]={values!r} must be a non-empty 1-D list of numbers") from None
        if values.ndim != 1 or values.size == 0:
            raise ValueError(f"sweep[{name!r}] must be a non-empty 1-D list of values, got shape {values.shape}")
        _checks.positive(values, f"sweep[{name!r}]")
        grid.append((name, tuple(float(v) for v in values)))
    return Members(seeds, tuple(grid))
