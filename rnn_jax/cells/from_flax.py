"""Flax recurrent cells as :class:`~rnn_jax.cells.Cell`: ``from_flax(nnx.GRUCell)``.

The resulting cell runs through everything built on the Cell contract: :func:`rnn_jax.unroll`
(lengths, reverse, probes, remat), ``SequenceModel``, the trainer, the runner (many seeds,
sweeps, checkpoints, resume) and the diagnostics. Register it under a name to use it in a
``SequenceModel`` (configs store cells by name)::

    from flax import nnx
    cells.register("flax_gru", lambda: cells.from_flax(nnx.GRUCell))
    SequenceModel("flax_gru", 32)

How a Flax cell is threaded, as ``nnx.RNN`` and ``nn.RNN`` do it: the parameters are a
pure pytree (a nested dict of arrays, what ``nnx.to_pure_dict`` gives for NNX and the
``"params"`` collection for linen); each step rebuilds the module around them
(``nnx.merge`` / ``module.apply``) and calls ``carry, y = cell(carry, x)``.

Conventions:

* The cell is built as ``cell_type(in_features, hidden_features, rngs=..., **options)`` (NNX) or
  ``cell_type(features=hidden_features, **options)`` (linen), like Flax's own cells.
* Its only state is ``nnx.Param`` (NNX) or the ``"params"`` collection (linen); cells that
  keep other state (batch statistics, RNG streams used at call time) are refused.
* ``hidden(carry)`` is the carry itself, or its last element when it is a tuple: Flax's
  LSTM carry is ``(c, h)``. The probe enters there, so it still means dL/dh_t, and the
  cell's output must be that ``h`` (true of every Flax cell).
* The initial carry is zeros; the inputs go to the cell as they are (``project_inputs`` is a
  cast), and ``hooks.recurrent_matrix`` is ``None``, so the spectra diagnostics skip these cells.

Sizes: ``initial_carry(params, batch_shape)`` needs the input and hidden sizes, which Flax
keeps in the module, not in the parameters. ``init`` records them against the parameters'
shapes, so parameters made by this cell's ``init`` (in this process) are understood;
``sizes=(input_size, hidden_size)`` declares them for parameters made elsewhere.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from rnn_jax.cells import base

_SIZES: dict[tuple, tuple[int, int]] = {}
"""(cell type, parameter shapes) -> (input size, hidden size), filled by each ``init``."""


def _shapes(params) -> tuple:
    leaves, tree = jax.tree.flatten(params)
    return tree, tuple(tuple(jnp.shape(leaf)) for leaf in leaves)


def _hidden(carry):
    return carry[-1] if isinstance(carry, tuple) else carry


class _Nnx:
    """Builds, splits and merges an ``nnx.RNNCellBase`` subclass."""

    def __init__(self, cell_type, options):
        from flax import nnx

        self.nnx, self.cell_type, self.options = nnx, cell_type, options

    def build(self, input_size: int, hidden_size: int, key):
        return self.cell_type(input_size, hidden_size, rngs=self.nnx.Rngs(key), **self.options)

    def init(self, key, input_size: int, hidden_size: int):
        graphdef, params, rest = self.nnx.split(self.build(input_size, hidden_size, key), self.nnx.Param, ...)
        if jax.tree.leaves(rest):
            raise ValueError(f"{self.cell_type.__name__} keeps state other than nnx.Param "
                             f"({sorted(self.nnx.to_pure_dict(rest))}); from_flax takes cells whose only state is parameters")
        return self.nnx.to_pure_dict(params)

    @functools.cache  # noqa: B019 -- one abstract module per size; the instance lives as long as its Cell
    def abstract(self, input_size: int, hidden_size: int):
        module = self.nnx.eval_shape(lambda: self.build(input_size, hidden_size, jax.random.key(0)))
        graphdef, params, _ = self.nnx.split(module, self.nnx.Param, ...)
        return module, graphdef, params

    def module(self, params, sizes):
        _, graphdef, abstract = self.abstract(*sizes)
        state = jax.tree.map(lambda a: a, abstract)  # a fresh State to fill
        self.nnx.replace_by_pure_dict(state, params)
        return self.nnx.merge(graphdef, state)

    def carry_shape(self, sizes, batch_shape):
        module, _, _ = self.abstract(*sizes)
        return jax.eval_shape(lambda: module.initialize_carry((*batch_shape, sizes[0]), self.nnx.Rngs(0)))

    def call(self, params, sizes, carry, x):
        return self.module(params, sizes)(carry, x)


class _Linen:
    """Initialises and applies a linen ``nn.RNNCellBase`` subclass."""

    def __init__(self, cell_type, options):
        self.cell_type, self.options = cell_type, options

    def build(self, hidden_size: int):
        return self.cell_type(features=hidden_size, **self.options)

    def init(self, key, input_size: int, hidden_size: int):
        module = self.build(hidden_size)
        carry = module.initialize_carry(key, (1, input_size))
        variables = module.init(key, carry, jnp.zeros((1, input_size), jnp.float32))
        other = sorted(set(variables) - {"params"})
        if other:
            raise ValueError(f"{self.cell_type.__name__} has variable collections {other} besides 'params'; "
                             "from_flax takes cells whose only state is parameters")
        return jax.tree.map(lambda a: a, dict(variables["params"]))

    def carry_shape(self, sizes, batch_shape):
        module = self.build(sizes[1])
        return jax.eval_shape(lambda: module.initialize_carry(jax.random.key(0), (*batch_shape, sizes[0])))

    def call(self, params, sizes, carry, x):
        return self.build(sizes[1]).apply({"params": params}, carry, x)


def from_flax(cell_type: type, /, *, sizes: tuple[int, int] | None = None, **options: Any) -> base.Cell:
    """A Flax recurrent cell class as a :class:`~rnn_jax.cells.Cell`.

    Args:
        cell_type: an ``nnx.RNNCellBase`` subclass (``nnx.LSTMCell``, ``OptimizedLSTMCell``,
            ``GRUCell``, ``SimpleCell`` or your own) or a linen ``nn.RNNCellBase`` subclass
            (``nn.LSTMCell``... or your own).
        sizes: ``(input_size, hidden_size)`` of parameters not made by this cell's ``init``.
        **options: passed to the constructor (``activation_fn=...``, ``param_dtype=...``).

    Returns:
        A Cell named after the class; its parameters are a nested dict of arrays.

    Raises:
        TypeError: ``cell_type`` is not a Flax recurrent cell class.
    """
    from flax import linen, nnx

    if not isinstance(cell_type, type):
        raise TypeError(f"cell_type must be a Flax cell class such as nnx.GRUCell, got {cell_type!r} "
                        f"(pass the class and its options, not an instance)")
    if issubclass(cell_type, nnx.RNNCellBase):
        flavour = _Nnx(cell_type, options)
    elif issubclass(cell_type, linen.RNNCellBase):
        flavour = _Linen(cell_type, options)
    else:
        raise TypeError(f"cell_type={cell_type.__name__} is neither an nnx.RNNCellBase nor a linen nn.RNNCellBase subclass")

    def init(key, input_size: int, hidden_size: int):
        params = flavour.init(key, input_size, hidden_size)
        _SIZES[(cell_type, _shapes(params))] = (input_size, hidden_size)
        return params

    def sizes_of(params) -> tuple[int, int]:
        if sizes is not None:
            return sizes
        try:
            return _SIZES[(cell_type, _shapes(params))]
        except KeyError:
            raise ValueError(f"parameters of shapes {_shapes(params)[1]} were not made by this {cell_type.__name__} "
                             "cell's init; pass from_flax(..., sizes=(input_size, hidden_size))") from None

    def initial_carry(params, batch_shape):
        shapes = flavour.carry_shape(sizes_of(params), tuple(batch_shape))
        return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)

    def project_inputs(params, xs):
        return xs.astype(jax.tree.leaves(params)[0].dtype)

    def step(params, carry, x_t):
        return flavour.call(params, sizes_of(params), carry, x_t)

    return base.Cell(
        name=cell_type.__name__,
        init=init,
        initial_carry=initial_carry,
        project_inputs=project_inputs,
        step=step,
        hidden=_hidden,
        options=tuple(sorted((k, repr(v)) for k, v in options.items())),
        hooks=base.Hooks(recurrent_matrix=None),
    )
