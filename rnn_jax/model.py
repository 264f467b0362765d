"""``SequenceModel``: stacked, optionally bidirectional recurrent layers with a readout head.

A frozen description with two pure functions, ``init(key, input_size)`` and
``apply(params, inputs, lengths=None, *, key=None, train=False)``. It expresses the reference
models people port from Keras and PyTorch with the same parameter counts::

    # Keras: LSTM(50) -> Dropout(0.2) -> Dense(1, sigmoid)   (sigmoid: inside the bce loss)
    SequenceModel("lstm", 50, output_dropout=0.2, cell_options={"init": "keras"})
    # Keras: SimpleRNN(128, return_sequences=True) -> SimpleRNN(64) -> Dense(1)
    SequenceModel("rnn", (128, 64), cell_options={"init": "keras"})
    # PyTorch: nn.RNN(d, h) -> nn.Linear(h, o) on the last output
    SequenceModel("rnn", h, output_size=o)

Parameters are ``{"layers": [{"fwd": cell_params, "bwd": cell_params}, ...], "head": {"w", "b"}}``
(``bwd`` only when bidirectional, ``head`` only when ``output_size`` is set; the head is
PyTorch's ``Linear`` layout, ``w[o, f]``).
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from rnn_jax import _checks, cells
from rnn_jax._random import draw
from rnn_jax.cells.base import Cell, add_bias, linear
from rnn_jax.cells.initializers import Preset, preset
from rnn_jax.types import Readout
from rnn_jax.unroll import Options, at_last_step, input_size_of, step_mask, unroll


class HeadInit(enum.StrEnum):
    """How :class:`SequenceModel` initialises its linear head (``head_init``)."""

    TORCH = "torch"  # torch.nn.Linear's default: w, b ~ U(±1/sqrt(fan_in))
    GLOROT = "glorot"  # Glorot-uniform w, zero bias: Keras's Dense, Lasagne's DenseLayer, Arjovsky et al.'s V


class Direction(enum.StrEnum):
    """A layer's directions; their values are the keys of the layer's parameters."""

    FWD = "fwd"
    BWD = "bwd"  # bidirectional layers only: runs each sequence backwards over its valid part

    @property
    def reverse(self) -> bool:
        return self is Direction.BWD

    @classmethod
    def of(cls, bidirectional: bool) -> tuple[Direction, ...]:
        """The directions of a layer, forward first."""
        return (cls.FWD, cls.BWD) if bidirectional else (cls.FWD,)


def _last_output(hs: jax.Array, lengths, reverse: bool) -> jax.Array:
    """Each sequence's output at its last step, from time-major ``hs[t, *b, h]``: at
    ``length - 1`` running forwards, at 0 running backwards."""
    return hs[0] if reverse else at_last_step(hs, lengths)


def _dropout(key, x: jax.Array, rate: float) -> jax.Array:
    keep = draw(jax.random.bernoulli, key, x.shape, p=1.0 - rate)
    return jnp.where(keep, x / (1.0 - rate), jnp.zeros_like(x))


@dataclasses.dataclass(frozen=True)
class SequenceModel:
    """Recurrent layers followed by an optional linear head.

    Attributes:
        cell: a registered cell name (``"rnn"``, ``"irnn"``, ``"lstm"``, ``"gru"`` or your own), or a
            :class:`~rnn_jax.cells.Cell` object (``cells.from_flax(MyCell)``, one written by
            hand) used as it is; a run directory records an object by its name, options and a
            digest of its code (:mod:`rnn_jax.cells.fingerprint`), so resume can tell it again.
        hidden_size: units per layer; an int (every layer) or a tuple (one per layer).
        num_layers: number of stacked layers (default: ``len(hidden_size)`` or 1).
        output_size: features of the linear head, or ``None`` for no head (outputs are then
            the readout's features).
        bidirectional: run a second, reversed cell per layer and concatenate the two.
        dropout: dropout on the outputs of every layer but the last (PyTorch's ``dropout``).
        output_dropout: dropout on the readout features before the head (Keras ``Dropout``).
        readout: ``"last"`` (default), ``"all"``, ``"mean"`` or ``"flat"``; see :class:`Readout`.
        seq_len: the sequence length, needed only by ``readout="flat"`` (the head reads all
            ``seq_len`` outputs, as MNIST-1D's reference GRU does).
        cell_options: options for ``rnn_jax.cells.get`` (``{"init": "keras"}``,
            ``{"activation": "relu"}``, ``{"forget_bias": 1.0}``...).
        layer_options: one mapping per layer whose options override ``cell_options`` in that
            layer (``({"recurrent_init": "uniform"}, {})``: IndRNN's first layer drawn apart,
            as its authors' adding script does); empty: every layer's cell is the same.
        head_init: ``"torch"`` or ``"glorot"`` (see :class:`HeadInit`); ``None``: Glorot for
            the ``keras`` and ``arjovsky`` initialisation presets, PyTorch's otherwise.
        loop: the :class:`~rnn_jax.unroll.Options` every layer runs over time with
            (``Options(mode="newton")``, ``Options(remat=True)``...; see :func:`rnn_jax.unroll`).
    """

    cell: str | Cell = "lstm"
    hidden_size: int | tuple[int, ...] = 128
    num_layers: int | None = None
    output_size: int | None = 1
    bidirectional: bool = False
    dropout: float = 0.0
    output_dropout: float = 0.0
    readout: Readout = Readout.LAST
    seq_len: int | None = None
    cell_options: Mapping[str, Any] | tuple[tuple[str, Any], ...] = ()
    layer_options: tuple[Mapping[str, Any] | tuple[tuple[str, Any], ...], ...] = ()
    head_init: HeadInit | None = None
    loop: Options = Options()

    def __post_init__(self):
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        if not isinstance(self.cell, (str, Cell)):
            raise TypeError(f"cell={self.cell!r} must be a registered cell name (str) or a rnn_jax.cells.Cell "
                            "(cells.get, cells.from_flax)")
        if isinstance(self.cell, Cell) and self.cell_options:
            raise TypeError(f"cell_options={dict(self.cell_options)!r} cannot be given with a Cell object: make "
                            f"the cell with its options (cells.get(name, **options), cells.from_flax(type, **options))")
        sizes = self.hidden_size if isinstance(self.hidden_size, (tuple, list)) else None
        if sizes is not None:
            if not sizes:
                raise ValueError("hidden_size=() must name at least one layer size")
            sizes = tuple(_checks.positive_int(h, "hidden_size") for h in sizes)
            if self.num_layers is not None and self.num_layers != len(sizes):
                raise ValueError(f"num_layers={self.num_layers!r} does not match hidden_size={sizes} ({len(sizes)} layers)")
            set_("hidden_size", sizes)
            set_("num_layers", len(sizes))
        else:
            _checks.positive_int(self.hidden_size, "hidden_size")
            set_("num_layers", 1 if self.num_layers is None else _checks.positive_int(self.num_layers, "num_layers"))
        if self.output_size is not None:
            _checks.positive_int(self.output_size, "output_size")
        for name in ("dropout", "output_dropout"):
            _checks.number(getattr(self, name), name, low=0.0, high=1.0, high_open=True)
        set_("readout", _checks.choice(Readout, self.readout, "readout"))
        if self.readout is Readout.FLAT and self.seq_len is None:
            raise ValueError("readout='flat' needs seq_len=T: the head reads all T outputs")
        if self.seq_len is not None:
            _checks.positive_int(self.seq_len, "seq_len")
        if isinstance(self.cell_options, Mapping):
            set_("cell_options", tuple(sorted(self.cell_options.items())))
        if not isinstance(self.layer_options, (tuple, list)):
            raise TypeError(f"layer_options={self.layer_options!r} must be a tuple of one mapping per layer")
        if self.layer_options:
            if isinstance(self.cell, Cell):
                raise TypeError("layer_options cannot be given with a Cell object: make each layer's cell yourself")
            if len(self.layer_options) != self.num_layers:
                raise ValueError(f"layer_options has {len(self.layer_options)} entries; the model has "
                                 f"num_layers={self.num_layers}: give one mapping per layer")
            as_dict = lambda o: dict(o) if isinstance(o, Mapping) else dict(map(tuple, o))  # noqa: E731 (JSON: pairs)
            set_("layer_options", tuple(tuple(sorted(as_dict(o).items())) for o in self.layer_options))
        else:
            set_("layer_options", ())
        if self.head_init is not None:
            set_("head_init", _checks.choice(HeadInit, self.head_init, "head_init"))
        if not isinstance(self.bidirectional, bool):
            raise TypeError(f"bidirectional={self.bidirectional!r} must be a bool")
        if not isinstance(self.loop, Options):
            raise TypeError(f"loop={self.loop!r} must be a rnn_jax.unroll.Options (Options(mode='newton'), ...)")
        for cell in self.layer_cells:  # unknown cell names and options fail here, not at apply time
            self.loop.for_cell(cell)

    # --- derived values -------------------------------------------------------------------

    def loop_options(self, truncation: int | None = None) -> Options:
        """:attr:`loop` with ``truncation`` (checked when made: a ``truncation`` the loop
        options cannot honour is refused)."""
        return self.loop if truncation is None else dataclasses.replace(self.loop, truncation=truncation)

    @property
    def cell_fn(self) -> Cell:
        """The :class:`~rnn_jax.cells.Cell` every layer uses."""
        return cells.get(self.cell, **dict(self.cell_options))

    @property
    def layer_cells(self) -> tuple[Cell, ...]:
        """Each layer's :class:`~rnn_jax.cells.Cell`: :attr:`cell_fn`, with that layer's
        :attr:`layer_options` over :attr:`cell_options`."""
        if not self.layer_options:
            return (self.cell_fn,) * self.num_layers
        return tuple(cells.get(self.cell, **{**dict(self.cell_options), **dict(o)}) for o in self.layer_options)

    @property
    def cell_name(self) -> str:
        """The cell's name: the registered name, or a Cell object's ``name``."""
        return self.cell if isinstance(self.cell, str) else self.cell.name

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        if isinstance(self.hidden_size, tuple):
            return self.hidden_size
        return (self.hidden_size,) * self.num_layers

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def feature_size(self) -> int:
        """Features the head reads: the last layer's size times the number of directions
        (times ``seq_len`` for the flat readout)."""
        per_step = self.layer_sizes[-1] * self.num_directions
        return per_step * self.seq_len if self.readout is Readout.FLAT else per_step

    # --- pure functions -------------------------------------------------------------------

    def init(self, key, input_size: int) -> dict[str, Any]:
        """Initialises every layer and the head.

        Args:
            key: a ``jax.random.key``.
            input_size: ``i``, features per time step.

        Returns:
            The parameter pytree described in the module docstring.
        """
        input_size = _checks.positive_int(input_size, "input_size")
        keys = jax.random.split(key, self.num_layers + 1)
        layers, size = [], input_size
        for layer_key, hidden, cell in zip(keys[:-1], self.layer_sizes, self.layer_cells):
            direction_keys = jax.random.split(layer_key)
            directions = Direction.of(self.bidirectional)
            layers.append({d.value: cell.init(k, size, hidden) for d, k in zip(directions, direction_keys)})
            size = hidden * self.num_directions
        params: dict[str, Any] = {"layers": layers}
        if self.output_size is not None:
            params["head"] = self._init_head(keys[-1], self.feature_size)
        return params

    def _init_head(self, key, fan_in: int) -> dict[str, jax.Array]:
        shape = (self.output_size, fan_in)
        kind = self.head_init
        if kind is None:  # Keras's Dense, and V of Arjovsky et al.'s models.py: Glorot
            glorot = preset(dict(self.cell_options)) in (Preset.KERAS, Preset.ARJOVSKY)
            kind = HeadInit.GLOROT if glorot else HeadInit.TORCH
        if kind is HeadInit.GLOROT:
            w = jax.nn.initializers.glorot_uniform(in_axis=1, out_axis=0)(key, shape, jnp.float32)
            return {"w": w, "b": jnp.zeros((self.output_size,), jnp.float32)}
        bound = 1.0 / math.sqrt(fan_in)  # torch.nn.Linear's default
        k_w, k_b = jax.random.split(key)
        return {
            "w": draw(jax.random.uniform, k_w, shape, minval=-bound, maxval=bound),
            "b": jax.random.uniform(k_b, (self.output_size,), jnp.float32, -bound, bound),
        }

    def param_count(self, input_size: int) -> int:
        """Number of scalars in ``init(key, input_size)`` (computed without allocating)."""
        shapes = jax.eval_shape(lambda k: self.init(k, input_size), jax.random.key(0))
        return sum(math.prod(a.shape) for a in jax.tree.leaves(shapes))

    def apply(
        self,
        params: dict[str, Any],
        inputs: jax.Array,
        lengths: jax.Array | None = None,
        *,
        key=None,
        train: bool = False,
        probes: Sequence[jax.Array | None] | None = None,
        truncation: int | None = None,
    ) -> jax.Array:
        """Runs the model.

        Args:
            params: from :meth:`init`.
            inputs: ``[*b, t, i]`` floats, batch-major.
            lengths: ``[*b]`` ints in ``[1, t]``; padded steps are ignored.
            key: a ``jax.random.key`` for dropout; required when ``train`` and a dropout > 0.
            train: apply dropout.
            probes: optional, one ``[t, *b, directions*h_l]`` array (zeros) per layer, added to
                the hidden states (see :func:`rnn_jax.unroll`); ``grad`` with respect to it is
                ``dL/dh_t`` for that layer.
            truncation: ``k`` stops every layer's gradient through its carry every ``k`` steps
                (truncated BPTT, :func:`rnn_jax.unroll`); the outputs are unchanged.

        Returns:
            ``[*b, o]`` (readout last / mean) or ``[*b, t, o]`` (readout all); ``o`` is
            ``output_size``, or :attr:`feature_size` without a head.
        """
        return self.run(params, inputs, lengths, key=key, train=train, probes=probes, truncation=truncation)[0]

    def run(
        self,
        params: dict[str, Any],
        inputs: jax.Array,
        lengths: jax.Array | None = None,
        *,
        carries: Sequence[Sequence[Any]] | None = None,
        key=None,
        train: bool = False,
        probes: Sequence[jax.Array | None] | None = None,
        truncation: int | None = None,
    ) -> tuple[jax.Array, list[list[Any]]]:
        """:meth:`apply` from given carries, also returning the final ones: ``(outputs,
        carries)`` with ``carries[layer][direction]`` (forward first) each layer's carry after
        each sequence's last step. ``carries`` (the same layout; default: zeros) start the
        layers, so a long sequence run window by window with the carries passed along gives
        the outputs of one run (Keras's ``stateful=True``)."""
        self._check_apply(params, inputs, key, train, probes)
        if carries is not None and (len(carries) != self.num_layers
                                    or any(len(c) != self.num_directions for c in carries)):
            raise ValueError(f"carries must hold one carry per layer and direction "
                             f"([{self.num_layers}][{self.num_directions}]), as run returns them")
        dropping = train and (self.dropout > 0 or self.output_dropout > 0)
        keys = jax.random.split(key, self.num_layers + 1) if dropping else [None] * (self.num_layers + 1)
        xs = jnp.moveaxis(inputs, -2, 0)  # time-major once, for every layer
        options = self.loop_options(truncation)
        final_carries = []
        for index, (layer, cell) in enumerate(zip(params["layers"], self.layer_cells)):
            if index > 0 and train and self.dropout > 0:
                xs = _dropout(keys[index], xs, self.dropout)
            probe = None if probes is None else probes[index]
            halves = [None, None] if probe is None else jnp.split(probe, self.num_directions, axis=-1) + [None]
            starts = [None, None] if carries is None else carries[index]
            finals, outputs, layer_carries = [], [], []
            for direction, half, start in zip(Direction.of(self.bidirectional), halves, starts):
                final, hs = unroll(cell, layer[direction.value], xs, lengths=lengths, time_major=True, probe=half,
                                   reverse=direction.reverse, initial_carry=start, options=options)
                finals.append(cell.hidden(final) if cell.hooks.output is None
                              else _last_output(hs, lengths, direction.reverse))
                outputs.append(hs)
                layer_carries.append(final)
            final_carries.append(layer_carries)
            xs = jnp.concatenate(outputs, axis=-1) if self.bidirectional else outputs[0]
        return self.head(params, xs, lengths, finals, train=train, key=keys[-1]), final_carries

    def head(self, params: dict[str, Any], hs: jax.Array, lengths=None, finals: Sequence[jax.Array] | None = None,
             *, train: bool = False, key=None) -> jax.Array:
        """The outputs from the last layer's time-major outputs ``hs[t, *b, f]``: the readout,
        output dropout and the linear head (what :meth:`apply` does after the layers).
        ``finals``: each direction's output at its sequence's last step (default: read from
        ``hs``, for one forward direction)."""
        if finals is None:
            finals = [_last_output(hs, lengths, False)]
        features = self._read(hs, finals, lengths)
        if train and self.output_dropout > 0:
            features = _dropout(key, features, self.output_dropout)
        if "head" not in params:
            return features
        out = add_bias(linear(features, params["head"]["w"]), params["head"]["b"])
        mask = step_mask(lengths, hs.shape[0]) if self.readout.per_step else None
        if mask is not None:  # padded steps emit zeros
            out = jnp.where(mask[..., None], out, jnp.zeros_like(out))
        return out

    def constrain(self, params: dict[str, Any]) -> dict[str, Any]:
        """``params`` with the cell's ``hooks.constrain`` applied to every layer and direction
        (``params`` itself for a cell without one). The trainer calls it after every update."""
        projects = [cell.hooks.constrain for cell in self.layer_cells]
        if all(project is None for project in projects):
            return params
        return {**params, "layers": [layer if project is None else {d: project(p) for d, p in layer.items()}
                                     for layer, project in zip(params["layers"], projects)]}

    def cell_params(self, params: dict[str, Any]) -> list[list[Any]]:
        """Each layer's cell parameters by direction, ``[layer][direction]`` (forward first)."""
        return [[layer[d.value] for d in Direction.of(self.bidirectional)] for layer in params["layers"]]

    def _read(self, hs: jax.Array, finals: list[jax.Array], lengths) -> jax.Array:
        match self.readout:
            case Readout.LAST:
                return jnp.concatenate(finals, axis=-1)
            case Readout.ALL:
                return jnp.moveaxis(hs, 0, -2)
            case Readout.MEAN:
                total = jnp.sum(hs, axis=0)  # padded steps are zeros
                count = hs.shape[0] if lengths is None else jnp.asarray(lengths)[..., None].astype(hs.dtype)
                return total / count
            case Readout.FLAT:  # padded steps are zeros
                steps = jnp.moveaxis(hs, 0, -2)
                return steps.reshape(steps.shape[:-2] + (-1,))

    def _check_apply(self, params, inputs, key, train, probes) -> None:
        if not isinstance(params, dict) or "layers" not in params:
            raise TypeError("params must be the dict returned by SequenceModel.init")
        if len(params["layers"]) != self.num_layers:
            raise ValueError(f"params has {len(params['layers'])} layers, the model has num_layers={self.num_layers}")
        if ("head" in params) != (self.output_size is not None):
            raise ValueError(f"params {'has' if 'head' in params else 'lacks'} a head but output_size={self.output_size!r}")
        _checks.float_array(inputs, "inputs", ndim_min=2)
        expected = input_size_of(self.cell_params(params)[0][0])
        if expected is not None and inputs.shape[-1] != expected:
            raise ValueError(
                f"inputs has {inputs.shape[-1]} features on its last axis (shape {tuple(inputs.shape)}), "
                f"expected input_size={expected}; inputs are batch-major [*b, t, i]"
            )
        if not isinstance(train, bool):
            raise TypeError(f"train={train!r} must be a bool")
        if train and (self.dropout > 0 or self.output_dropout > 0) and key is None:
            raise ValueError("key=None: apply(..., train=True) needs key=jax.random.key(...) for dropout")
        if self.readout is Readout.FLAT and inputs.shape[-2] != self.seq_len:
            raise ValueError(f"inputs has {inputs.shape[-2]} steps but readout='flat' was built for seq_len={self.seq_len}")
        if probes is not None and len(probes) != self.num_layers:
            raise ValueError(f"probes has {len(probes)} entries, expected one per layer ({self.num_layers})")
