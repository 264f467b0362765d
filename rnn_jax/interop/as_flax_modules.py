"""Our cells as Flax modules: any registered cell inside ``nnx.RNN`` or ``nnx.Bidirectional``
(:class:`FlaxCell`), or inside linen's ``nn.RNN`` (:class:`LinenCell`).

    from flax import nnx
    from rnn_jax.interop.as_flax_modules import FlaxCell

    cell = FlaxCell("gru", 3, 32, rngs=nnx.Rngs(0), reset_after=False)   # any cells.get options
    outputs = nnx.RNN(cell)(x)                                            # x: [b, t, 3]

The parameters are ``nnx.Param`` attributes in our (PyTorch's) layout, ``w_ih``, ``w_hh``,
``b_ih``, ``b_hh``, so weights from ``rnn_jax.from_torch`` or ``cells.get(...).init`` load with
:meth:`FlaxCell.load`. The carry is ours (an LSTM's is ``(h, c)``), and each call runs the
cell's own ``project_inputs`` and ``step``: the same maths as :func:`rnn_jax.unroll`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
from flax import linen, nnx

from rnn_jax import cells


class FlaxCell(nnx.RNNCellBase):
    """A registered rnn_jax cell as an ``nnx.RNNCellBase``.

    Args:
        cell: a registered cell name (``"lstm"``...) or a :class:`~rnn_jax.cells.Cell`.
        in_features: input features per step.
        hidden_features: hidden units.
        rngs: ``nnx.Rngs`` with a ``params`` stream.
        **options: options for ``cells.get`` (``reset_after=False``, ``init="keras"``, ``chrono=100.0``...).
    """

    def __init__(self, cell: str | cells.Cell, in_features: int, hidden_features: int, *, rngs: nnx.Rngs, **options: Any):
        self.cell = cells.get(cell, **options)
        self.in_features, self.hidden_features = in_features, hidden_features
        params = self.cell.init(rngs.params(), in_features, hidden_features)
        self.names = tuple(sorted(params))
        for name, value in params.items():
            setattr(self, name, nnx.Param(value))

    @property
    def params(self) -> dict[str, jax.Array]:
        """The weights in our layout (a dict of arrays, as ``cell.init`` returns)."""
        return {name: getattr(self, name)[...] for name in self.names}

    def load(self, params: Mapping[str, Any]) -> FlaxCell:
        """Replaces the weights with ``params`` (our layout, same names and shapes); returns self."""
        if set(params) != set(self.names):
            raise ValueError(f"params has {sorted(params)}; this {self.cell.name} cell has {list(self.names)}")
        for name in self.names:
            old = getattr(self, name)[...]
            if tuple(params[name].shape) != old.shape:
                raise ValueError(f"params[{name!r}] has shape {tuple(params[name].shape)}, expected {old.shape}")
            getattr(self, name)[...] = jax.numpy.asarray(params[name], old.dtype)
        return self

    def __call__(self, carry, inputs):
        params = self.cell.hooks.prepare(self.params)  # exprnn: W_hh = expm(A - Aᵀ), here once per step
        return self.cell.step(params, carry, self.cell.project_inputs(params, inputs))

    def initialize_carry(self, input_shape: tuple[int, ...], rngs=None, carry_init=None):
        del rngs, carry_init  # zeros, as every rnn_jax cell
        return self.cell.initial_carry(self.params, tuple(input_shape[:-1]))

    @property
    def num_feature_axes(self) -> int:
        return 1


class LinenCell(linen.RNNCellBase):
    """A registered rnn_jax cell as a linen ``nn.RNNCellBase`` (for ``nn.RNN`` / ``nn.Bidirectional``).

    Its parameters are one ``"cell"`` entry holding our layout (``{"cell": {"w_ih": ...}}``), so
    ``cells.get(...).init`` or ``from_torch`` weights go in as ``{"params": {"cell": weights}}``.

    Attributes:
        cell: a registered cell name.
        features: hidden units.
        options: options for ``cells.get``, as ``(("reset_after", False),)`` (linen fields are hashable).
    """

    cell: str
    features: int
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def cell_fn(self) -> cells.Cell:
        return cells.get(self.cell, **dict(self.options))

    @linen.compact
    def __call__(self, carry, inputs):
        cell = self.cell_fn
        params = self.param("cell", lambda key: cell.init(key, inputs.shape[-1], self.features))
        params = cell.hooks.prepare(params)
        return cell.step(params, carry, cell.project_inputs(params, inputs))

    def initialize_carry(self, rng, input_shape: tuple[int, ...]):
        cell, batch_shape = self.cell_fn, tuple(input_shape[:-1])
        shapes = jax.eval_shape(lambda k: cell.initial_carry(cell.init(k, input_shape[-1], self.features), batch_shape),
                                rng)
        return jax.tree.map(lambda s: jax.numpy.zeros(s.shape, s.dtype), shapes)  # zeros, as every rnn_jax cell

    @property
    def num_feature_axes(self) -> int:
        return 1
