"""Parameter initialisation for recurrent cells: presets and per-weight overrides.

Every cell stores PyTorch's layout so that weights transfer exactly:

    w_ih [G*h, i]    w_hh [G*h, h]    b_ih [G*h]    b_hh [G*h] (absent when ``hh_bias=False``)

with the ``G`` gate blocks stacked in PyTorch's order (lstm ``i, f, g, o``; gru ``r, z, n``).

Presets (``init=``):

* ``"torch"`` (the default): every weight and bias ~ U(-1/sqrt(h), 1/sqrt(h)), both biases
  present. This is exactly the scheme of ``torch.nn.RNN/LSTM/GRU.reset_parameters``.
  Chosen as the default because PyTorch parity is this project's correctness anchor and the
  published comparisons we reproduce (Arjovsky et al. 2016; Bai et al. 2018) used it.
* ``"keras"``: input kernel glorot-uniform over the whole ``[i, G*h]`` matrix, recurrent
  kernel orthogonal *per gate* (Keras orthogonalises the whole ``[h, G*h]`` matrix; one
  orthogonal block per gate keeps every gate's spectral radius at exactly 1), zero biases,
  LSTM forget bias 1 (``unit_forget_bias``), a single bias except for the reset-after GRU
  (Keras ``GRU(reset_after=True)`` has two). Parameter counts equal Keras's.
* ``"arjovsky"``: the code of Arjovsky, Shah & Bengio 2016 (``models.py`` of
  amarshah/complex_RNN): every matrix Glorot-uniform *per gate block* (``[h, i]`` and
  ``[h, h]`` each drawn with bound sqrt(6 / (fan_in + h))), zero biases, a single bias, LSTM
  forget bias 1; :class:`~rnn_jax.model.SequenceModel`'s readout is Glorot-uniform with a zero
  bias, as their ``V`` and ``out_bias``. (Their LSTM also has an output-gate peephole and a
  learned initial state, which ours has not.)
* ``"pascanu"``: the "smart_tanh" init of Pascanu, Mikolov & Bengio 2013's code (``RNN.py``
  of pascanur/trainingRNNs): W_ih ~ N(0, 0.01²); W_hh ~ N(0, 0.01²) with 15 nonzeros per row,
  rescaled to spectral radius 0.95 (``sparse_normal``); zero biases, a single bias.
* ``"irnn"``: Le, Jaitly & Hinton 2015, "A Simple Way to Initialize Recurrent Networks of
  Rectified Linear Units": W_hh = identity, zero biases, W_ih ~ N(0, 0.001^2). Use with
  ``activation="relu"`` (the ``"irnn"`` cell does both).

Overrides (each replaces the preset's choice): ``input_init`` (uniform, glorot_uniform,
glorot_uniform_gate, normal), ``recurrent_init`` (uniform, orthogonal, identity,
glorot_uniform, glorot_uniform_gate, sparse_normal), ``input_std``
(for ``normal``), ``forget_bias`` (LSTM: set in ``b_ih``'s forget block, with ``b_hh``'s
forget block zeroed, so the total forget bias equals it), ``hh_bias`` (keep ``b_hh``),
``bias`` (keep any bias at all) and ``recurrent_scale``, a gain multiplying W_hh. With
orthogonal or identity W_hh the gain is exactly the spectral radius of every gate block;
it may be a traced array, so a runner can sweep it without recompiling.

``chrono=T_max`` (Tallec & Ollivier 2018, "Can recurrent neural networks warp time?", ICLR)
sets the gate that keeps the old state to a characteristic time drawn between 1 and
``T_max - 1`` steps, one per unit: ``b ~ log(U[1, T_max - 1])``. LSTM: the forget bias is
``b`` and the input bias ``-b``. GRU: the update gate ``z`` keeps the old state here
(``h' = (1 - z) ⊙ n + z ⊙ h``, PyTorch's convention), so its bias is ``+b``; the paper writes
the GRU with the gate on the new state and so has ``-b`` for it. The chrono biases go into
``b_ih``, and the same blocks of ``b_hh`` are zero, so the total bias equals them; the other
biases keep the preset's values. ``T_max`` is the longest dependency expected (for the
adding problem, the sequence length).
"""

from __future__ import annotations

import dataclasses
import enum
import math
from typing import Any

import jax
import jax.numpy as jnp

from rnn_jax import _checks
from rnn_jax._random import draw


class Preset(enum.StrEnum):
    TORCH = "torch"
    KERAS = "keras"
    IRNN = "irnn"
    ARJOVSKY = "arjovsky"
    PASCANU = "pascanu"


class WeightInit(enum.StrEnum):
    UNIFORM = "uniform"  # U(-1/sqrt(h), 1/sqrt(h)), PyTorch
    GLOROT_UNIFORM = "glorot_uniform"  # U(-sqrt(6/(fan_in+fan_out)), ...) over the whole matrix
    GLOROT_UNIFORM_GATE = "glorot_uniform_gate"  # the same, one [h, fan_in] block per gate
    ORTHOGONAL = "orthogonal"  # one orthogonal [h, h] block per gate
    IDENTITY = "identity"  # one identity block per gate
    NORMAL = "normal"  # N(0, input_std^2)
    SPARSE_NORMAL = "sparse_normal"  # Pascanu et al. 2013: N(0, 0.01^2), 15 nonzeros per row, radius 0.95


@dataclasses.dataclass(frozen=True)
class InitSpec:
    """A fully resolved initialisation: a preset with its overrides applied."""

    input_init: WeightInit
    recurrent_init: WeightInit
    uniform_bias: bool  # U(-1/sqrt(h), 1/sqrt(h)) biases; zeros otherwise
    bias: bool = True
    hh_bias: bool = True
    forget_bias: float | None = None
    input_std: float = 1e-3
    recurrent_scale: Any = 1.0
    chrono: float | None = None


OPTIONS = frozenset(
    {"init", "input_init", "recurrent_init", "input_std", "forget_bias", "hh_bias", "bias", "recurrent_scale", "chrono", "dtype"}
)


def _preset(preset: Preset, *, num_gates: int, gru_reset_after: bool) -> dict[str, Any]:
    match preset:
        case Preset.TORCH:
            return dict(input_init=WeightInit.UNIFORM, recurrent_init=WeightInit.UNIFORM, uniform_bias=True)
        case Preset.KERAS:
            return dict(
                input_init=WeightInit.GLOROT_UNIFORM,
                recurrent_init=WeightInit.ORTHOGONAL,
                uniform_bias=False,
                hh_bias=gru_reset_after,
                forget_bias=1.0 if num_gates == 4 else None,
            )
        case Preset.IRNN:
            return dict(input_init=WeightInit.NORMAL, recurrent_init=WeightInit.IDENTITY, uniform_bias=False)
        case Preset.PASCANU:
            return dict(input_init=WeightInit.NORMAL, recurrent_init=WeightInit.SPARSE_NORMAL, uniform_bias=False,
                        hh_bias=False, input_std=0.01)
        case Preset.ARJOVSKY:  # keras's biases, Glorot per gate for both matrices, one bias
            keras = _preset(Preset.KERAS, num_gates=num_gates, gru_reset_after=gru_reset_after)
            return {**keras, "input_init": WeightInit.GLOROT_UNIFORM_GATE,
                    "recurrent_init": WeightInit.GLOROT_UNIFORM_GATE, "hh_bias": False}


def preset(options: dict[str, Any]) -> Preset:
    """The preset named by ``options["init"]`` (default ``torch``)."""
    return _checks.choice(Preset, options.get("init", Preset.TORCH), "init")


def resolve(options: dict[str, Any], *, num_gates: int, gru_reset_after: bool = False) -> tuple[InitSpec, Any]:
    """Turns user options into an :class:`InitSpec` and a dtype, checking every value."""
    _checks.unknown_options(options, OPTIONS, "cell init")
    fields = _preset(preset(options), num_gates=num_gates, gru_reset_after=gru_reset_after)
    for name in ("input_init", "recurrent_init"):
        if name in options:
            fields[name] = _checks.choice(WeightInit, options[name], name)
    if "input_std" in options:
        fields["input_std"] = float(_checks.positive(options["input_std"], "input_std"))
    if "forget_bias" in options and options["forget_bias"] is not None:
        if num_gates != 4:
            raise ValueError(f"forget_bias={options['forget_bias']!r} applies only to the lstm cell (it has no forget gate here)")
        fields["forget_bias"] = float(_checks.number(options["forget_bias"], "forget_bias"))
    if options.get("chrono") is not None:
        if num_gates not in (3, 4):
            raise ValueError(f"chrono={options['chrono']!r} applies only to gated cells (lstm, gru)")
        if options.get("forget_bias") is not None:
            raise ValueError("chrono and forget_bias both set the forget gate's bias; give one of them")
        fields["chrono"] = float(_checks.number(options["chrono"], "chrono", low=2.0, low_open=True))
        fields["forget_bias"] = None  # chrono replaces a preset's forget bias (keras)
    for name in ("hh_bias", "bias"):
        if name in options:
            if not isinstance(options[name], bool):
                raise TypeError(f"{name}={options[name]!r} must be a bool")
            fields[name] = options[name]
    if "recurrent_scale" in options:
        fields["recurrent_scale"] = _checks.positive(options["recurrent_scale"], "recurrent_scale")
    if fields["input_init"] in (WeightInit.ORTHOGONAL, WeightInit.IDENTITY, WeightInit.SPARSE_NORMAL):
        raise ValueError(f"input_init={fields['input_init'].value!r} is for square recurrent weights; use uniform, glorot_uniform or normal")
    dtype = jnp.dtype(options.get("dtype", jnp.float32))
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"dtype={dtype} must be a floating-point dtype")
    return InitSpec(**fields), dtype


SPARSE_NONZEROS, SPARSE_RADIUS, SPARSE_STD = 15, 0.95, 0.01


def spectral_radius(w: jax.Array, *, squarings: int = 12) -> jax.Array:
    """max |eig(w)| of a square matrix by Gelfand's formula, ``‖w^(2^n)‖^(1/2^n)``, squaring
    and renormalising ``n`` times (pure jnp: ``jnp.linalg.eigvals`` runs on CPU only). The
    error is about ``log(κ) / 2^n`` relative, κ the condition number of w's eigenvectors."""
    log_scale = jnp.log(jnp.linalg.norm(w))
    b = w / jnp.linalg.norm(w)
    for _ in range(squarings):
        b = b @ b
        norm = jnp.linalg.norm(b)
        b, log_scale = b / norm, 2.0 * log_scale + jnp.log(norm)
    return jnp.exp(log_scale / 2.0**squarings)


def _sparse_normal(key, shape, dtype):
    """Pascanu et al.'s smart_tanh W_hh: N(0, 0.01²), all but 15 random entries of each row
    zeroed, rescaled to spectral radius 0.95."""
    k_w, k_keep = jax.random.split(key)
    w = SPARSE_STD * draw(jax.random.normal, k_w, shape, dtype=dtype)
    rank = jnp.argsort(jnp.argsort(draw(jax.random.uniform, k_keep, shape), axis=1), axis=1)
    w = jnp.where(rank < SPARSE_NONZEROS, w, jnp.zeros_like(w))
    return w * (SPARSE_RADIUS / spectral_radius(w))


def _per_gate(fn, key, num_gates: int, hidden_size: int, dtype, fan_in: int | None = None):
    keys = jax.random.split(key, num_gates)
    return jnp.concatenate([fn(k, (hidden_size, fan_in or hidden_size), dtype) for k in keys], axis=0)


def _weight(kind: WeightInit, key, shape: tuple[int, int], num_gates: int, hidden_size: int, spec: InitSpec, dtype):
    bound = 1.0 / math.sqrt(hidden_size)
    match kind:
        case WeightInit.UNIFORM:
            return draw(jax.random.uniform, key, shape, dtype=dtype, minval=-bound, maxval=bound)
        case WeightInit.GLOROT_UNIFORM:
            # Keras stores the kernel as [fan_in, G*h]; ours is its transpose.
            return jax.nn.initializers.glorot_uniform(in_axis=1, out_axis=0)(key, shape, dtype)
        case WeightInit.SPARSE_NORMAL:
            return _per_gate(_sparse_normal, key, num_gates, hidden_size, dtype)
        case WeightInit.GLOROT_UNIFORM_GATE:
            glorot = jax.nn.initializers.glorot_uniform(in_axis=1, out_axis=0)
            return _per_gate(glorot, key, num_gates, hidden_size, dtype, fan_in=shape[1])
        case WeightInit.NORMAL:
            return spec.input_std * draw(jax.random.normal, key, shape, dtype=dtype)
        case WeightInit.ORTHOGONAL:
            return _per_gate(jax.nn.initializers.orthogonal(), key, num_gates, hidden_size, dtype)
        case WeightInit.IDENTITY:
            return jnp.tile(jnp.eye(hidden_size, dtype=dtype), (num_gates, 1))


def init_params(
    key,
    input_size: int,
    hidden_size: int,
    *,
    num_gates: int,
    gru_reset_after: bool = False,
    **options: Any,
) -> dict[str, jax.Array]:
    """Initialises ``w_ih, w_hh, b_ih, b_hh`` for a cell with ``num_gates`` gate blocks.

    Args:
        key: a ``jax.random.key``.
        input_size: ``i``, features per time step (>= 1).
        hidden_size: ``h``, hidden units (>= 1).
        num_gates: ``G``: 1 for rnn, 3 for gru, 4 for lstm.
        gru_reset_after: the GRU variant (the keras preset keeps ``b_hh`` only for it).
        **options: a preset ``init`` and overrides, see the module docstring.

    Returns:
        A dict of arrays in PyTorch's layout (see the module docstring).
    """
    input_size, hidden_size = _checks.sizes(input_size, hidden_size)
    spec, dtype = resolve(options, num_gates=num_gates, gru_reset_after=gru_reset_after)
    g = num_gates * hidden_size
    k_ih, k_hh, k_bih, k_bhh = jax.random.split(key, 4)
    params = {
        "w_ih": _weight(spec.input_init, k_ih, (g, input_size), num_gates, hidden_size, spec, dtype),
        "w_hh": _weight(spec.recurrent_init, k_hh, (g, hidden_size), num_gates, hidden_size, spec, dtype)
        * spec.recurrent_scale,
    }
    if not spec.bias:
        return params
    bound = 1.0 / math.sqrt(hidden_size)
    bias_keys = {"b_ih": k_bih, "b_hh": k_bhh} if spec.hh_bias else {"b_ih": k_bih}
    for name, k in bias_keys.items():
        if spec.uniform_bias:
            params[name] = jax.random.uniform(k, (g,), dtype, -bound, bound)
        else:
            params[name] = jnp.zeros((g,), dtype)
    # gate-bias overrides: the whole bias goes into b_ih, the same block of b_hh is zero
    for block, value in _gate_biases(spec, jax.random.fold_in(k_bih, 1), num_gates, hidden_size, dtype).items():
        part = slice(block * hidden_size, (block + 1) * hidden_size)
        params["b_ih"] = params["b_ih"].at[part].set(value)
        if "b_hh" in params:
            params["b_hh"] = params["b_hh"].at[part].set(0.0)
    return params


def _gate_biases(spec: InitSpec, key, num_gates: int, hidden_size: int, dtype) -> dict[int, jax.Array]:
    """``{gate block: bias}`` set by ``forget_bias`` or ``chrono`` (see the module docstring).
    The gate that keeps the old state is block 1 in both gate orders (lstm ``i, f, g, o``;
    gru ``r, z, n``)."""
    if spec.forget_bias is not None:
        return {1: jnp.full((hidden_size,), spec.forget_bias, dtype)}
    if spec.chrono is None:
        return {}
    keep = jnp.log(jax.random.uniform(key, (hidden_size,), dtype, 1.0, spec.chrono - 1.0))
    return {1: keep, 0: -keep} if num_gates == 4 else {1: keep}  # lstm: input bias -b_f
