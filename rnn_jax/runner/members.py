"""The members of a run: the seeds × sweep grid, flattened onto one leading axis.

Member ``m`` is seed ``seeds[m % S]`` at sweep point ``m // S``; each sweep point is one
combination of the swept values (the grid of all combinations, first name slowest). A swept
name is what the user wrote (``"learning_rate"``); its path is where the value goes
(``"1.learning_rate"``, :meth:`~rnn_jax.training.trainer.Trainer.hparam_path`).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from rnn_jax import _checks


@dataclasses.dataclass(frozen=True)
class Members:
    """The seeds × sweep grid (see the module docstring)."""

    seeds: tuple[int, ...]
    sweep: tuple[tuple[str, tuple[float, ...]], ...]
    paths: tuple[str, ...] = ()
    """Where each swept value goes, in the order of ``sweep`` (default: its name)."""

    @property
    def points(self) -> list[dict[str, float]]:
        names = [name for name, _ in self.sweep]
        return [dict(zip(names, values)) for values in itertools.product(*(v for _, v in self.sweep))]

    def __len__(self) -> int:
        return len(self.seeds) * len(self.points)

    def table(self) -> list[dict[str, Any]]:
        """One row per member: ``member``, ``seed`` and its swept values by name."""
        return [{"member": i * len(self.seeds) + j, "seed": seed, **point}
                for i, point in enumerate(self.points) for j, seed in enumerate(self.seeds)]

    def stacked(self, defaults: Mapping[str, Any]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Each member's seed ``[M]`` uint32 and hyperparameters ``{path: [M]}`` float32 as
        host arrays, ``defaults`` (by path) where not swept (the keys are made on the devices
        from the seeds)."""
        rows = self.table()
        paths = dict(zip((name for name, _ in self.sweep), self.paths or (name for name, _ in self.sweep)))
        columns = {path: np.full(len(rows), float(value), np.float32) for path, value in defaults.items()}
        columns.update({path: np.asarray([row[name] for row in rows], np.float32) for name, path in paths.items()})
        return np.asarray([row["seed"] for row in rows], np.uint32), columns

    def identity(self) -> dict[str, Any]:
        """The part of a run's identity that the grid fixes (for ``config.json``)."""
        return {"seeds": list(self.seeds), "sweep": {name: list(values) for name, values in self.sweep}}


def make_members(seeds: int | Sequence[int], sweep: Mapping[str, Any] | None,
                 path_of: Callable[[str], str] = str) -> Members:
    """Checks ``seeds`` (how many, or which) and ``sweep`` (``{name: values}``, each name
    mapped to its path by ``path_of``, which refuses an unknown one) and builds the grid."""
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
    grid, paths = [], []
    for name, values in (sweep or {}).items():
        if not isinstance(name, str):
            raise TypeError(f"sweep key {name!r} must be a string (an optimizer argument or 'recurrent_scale')")
        paths.append(path_of(name))
        try:
            values = np.atleast_1d(np.asarray(values, dtype=float))
        except (TypeError, ValueError):
            raise ValueError(f"sweep[{name!r}]={values!r} must be a non-empty 1-D list of numbers") from None
        if values.ndim != 1 or values.size == 0:
            raise ValueError(f"sweep[{name!r}] must be a non-empty 1-D list of values, got shape {values.shape}")
        if not np.all(np.isfinite(values)):
            raise ValueError(f"sweep[{name!r}]={values.tolist()} must hold finite numbers")
        grid.append((name, tuple(float(v) for v in values)))
    if len(set(paths)) != len(paths):
        raise ValueError(f"sweep names one value twice: {', '.join(sweep)} go to {', '.join(paths)}")
    return Members(seeds, tuple(grid), tuple(paths))
