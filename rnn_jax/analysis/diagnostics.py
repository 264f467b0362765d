"""Vanishing-gradient diagnostics: ‖∂L/∂h_t‖ and ‖∂h_T/∂h_t‖ for every t, and W_hh spectra.

* :func:`hidden_grad_norms` uses the ``probe`` of :func:`rnn_jax.unroll`: zeros added to every
  hidden state, so the gradient of the loss with respect to the probe at ``t`` is ``dL/dh_t``
  (the total derivative through every later step). This is the quantity of Arjovsky, Shah &
  Bengio 2016, Fig. 4.
* :func:`jacobian_norms` gives the norm of the Jacobian ``∂h_T/∂h_t`` (the product of the step
  Jacobians from ``t`` to ``T``), spectral or Frobenius, per sequence, averaged over the batch
  (Pascanu, Mikolov & Bengio 2013, Sec. 3); :func:`jacobian_singular_values` its largest
  singular values.
* :func:`finite_time_lyapunov` gives the largest Lyapunov exponents of the cell driven by
  the task's inputs (the dynamics behind those gradients).
* :func:`recurrent_spectra` gives the spectral radius and the largest singular values of each
  gate block of ``W_hh``: with tanh, gradients vanish when the largest singular value is
  below 1 (Pascanu et al. 2013).

All but the spectra are pure and jit-able (the runner vmaps them over seeds).
"""

from __future__ import annotations

import enum

import jax
import jax.numpy as jnp
import numpy as np

from rnn_jax import _checks, credit
from rnn_jax.analysis import dynamics
from rnn_jax.cells.base import Cell, forward_map
from rnn_jax.cells.carry_vector import CarryVector
from rnn_jax.io import rundir
from rnn_jax.model import SequenceModel
from rnn_jax.tasks.base import Task
from rnn_jax.types import Batch
from rnn_jax.unroll import step_mask, unroll


class MatrixNorm(enum.StrEnum):
    SPECTRAL = "spectral"
    FROBENIUS = "frobenius"


def hidden_grad_norms(model: SequenceModel, params, batch: Batch, task: Task) -> jax.Array:
    """‖∂ℓ/∂h_t‖ for every layer and time step, averaged over the batch.

    ``ℓ`` is each sequence's own loss (the task's batch-mean loss times the batch size), so
    the values do not depend on the batch size. Padded steps are excluded from the average.

    Args:
        model: the model.
        params: its parameters.
        batch: ``Batch`` with ``inputs[b, t, i]``.
        task: supplies the loss.

    Returns:
        ``[layers, t]`` norms (bidirectional layers: the norm over both directions' units).
    """
    batch_size, seq_len = batch.inputs.shape[:2]
    probes = [jnp.zeros((seq_len, batch_size, model.num_directions * h)) for h in model.layer_sizes]

    def loss(probes):
        outputs = model.apply(params, batch.inputs, batch.lengths, probes=probes)
        return task.loss(outputs, batch) * batch_size

    grads = jax.grad(loss)(probes)
    mask = step_mask(batch.lengths, seq_len)  # [b, t]
    weights = jnp.ones((seq_len, batch_size)) if mask is None else mask.T.astype(jnp.float32)
    count = jnp.maximum(jnp.sum(weights, axis=1), 1.0)
    return jnp.stack([jnp.sum(jnp.linalg.norm(g, axis=-1) * weights, axis=1) / count for g in grads])


TINY = float(np.finfo(np.float32).smallest_subnormal)
"""What an underflowed float32 norm was at most: a norm of 0 counts as this."""


def gradient_decades(norms) -> np.ndarray:
    """How many decades ‖∂L/∂h_t‖ falls from t = T to t = 0: ``log10(norms[..., -1] /
    norms[..., 0])`` over the last (time) axis, in float64 on the host. A norm that underflowed
    to 0 counts as :data:`TINY`, so the value is then a lower bound (about 45 decades)."""
    norms = np.asarray(norms, np.float64)
    return np.log10(norms[..., -1] / np.maximum(norms[..., 0], TINY))


def jacobian_norms(
    cell: Cell, params, xs: jax.Array, *, norm: MatrixNorm | str = MatrixNorm.SPECTRAL
) -> jax.Array:
    """‖∂h_T/∂h_t‖ for every t, averaged over the batch.

    Args:
        cell: the cell.
        params: the cell's parameters (e.g. ``model_params["layers"][0]["fwd"]``).
        xs: ``[b, t, i]`` inputs (keep ``b`` small: this costs ``h`` backward passes).
        norm: ``"spectral"`` (largest singular value) or ``"frobenius"``.

    Returns:
        ``[t]``; the last entry is the norm of the identity (1 spectral, sqrt(h) Frobenius).
    """
    kind = _checks.choice(MatrixNorm, norm, "norm")

    def per_sequence(jac):
        if kind is MatrixNorm.SPECTRAL:
            return spectral_norm(jac)
        return jnp.sqrt(jnp.sum(jac**2, axis=(1, 2)))

    return jnp.mean(jax.vmap(per_sequence)(long_term_jacobians(cell, params, xs)), axis=0)


def long_term_jacobians(cell: Cell, params, xs: jax.Array) -> jax.Array:
    """``∂h_T/∂h_t`` for every sequence and t (through every later step, the hidden state's
    own rows and columns): ``[b, t, h, h]``, by ``h`` backward passes per sequence."""
    cell = forward_map(cell)
    seq_len = xs.shape[-2]
    hidden = jax.eval_shape(lambda p: cell.hidden(cell.initial_carry(p, ())), params).shape[-1]

    def final_hidden(probe, x):  # one sequence: probe [t, h], x [t, i]
        final, _ = unroll(cell, params, x, time_major=True, probe=probe)
        return cell.hidden(final)

    def per_sequence(x):
        return jnp.moveaxis(jax.jacrev(final_hidden)(jnp.zeros((seq_len, hidden)), x), 1, 0)  # [t, h, h]

    return jax.vmap(per_sequence)(xs)


def jacobian_singular_values(cell: Cell, params, xs: jax.Array, *, top: int | None = None) -> jax.Array:
    """The ``top`` largest singular values of the long-term Jacobian ``∂h_T/∂h_t`` for every
    t, in descending order, averaged over the batch: ``[t, top]`` (``None``: all ``h``).

    Each matrix is scaled to a largest entry of 1 before the SVD (its values span decades), so
    a singular value is exact relative to the largest, to about the dtype's epsilon times it:
    values below ~1e-7 σ₁ (float32) are rounding. Not for the runner's compiled programs over
    several host devices (jaxlib's batched SVD, see :func:`spectral_norm`).
    """
    jac = long_term_jacobians(cell, params, xs)
    hidden = jac.shape[-1]
    top = hidden if top is None else _checks.positive_int(top, "top")
    if top > hidden:
        raise ValueError(f"top={top} exceeds the hidden size {hidden}")
    scale = jnp.maximum(jnp.max(jnp.abs(jac), axis=(-2, -1)), jnp.finfo(jac.dtype).tiny)
    values = jnp.linalg.svd(jac / scale[..., None, None], compute_uv=False)[..., :top] * scale[..., None]
    return jnp.mean(values, axis=0)


def spectral_norm(matrices: jax.Array, *, iterations: int = 200) -> jax.Array:
    """Largest singular value of each ``[..., n, n]`` matrix by power iteration on ``MᵀM``.

    Matrix-free and LAPACK-free on purpose: jaxlib's batched SVD kernel deadlocks when
    several host CPU devices run it at once (seen with jaxlib 0.10.2), and plain matmuls
    suit every backend. The start vector is a fixed random one (never orthogonal to the top
    singular vector in practice); the relative error after ``iterations`` steps is about
    ``(σ₂/σ₁)^(2·iterations)``: below 1e-5 for 200 steps unless σ₂ > 0.97 σ₁.
    """
    # Scale to a largest entry of 1 first: Jacobian products span 1e-20..1e+1, and squares
    # (MᵀMv, Frobenius sums) would underflow float32 at the small end.
    scale = jnp.max(jnp.abs(matrices), axis=(-2, -1))
    matrices = matrices / jnp.maximum(scale, jnp.finfo(matrices.dtype).tiny)[..., None, None]
    start = jax.random.normal(jax.random.key(0), matrices.shape[-1:], matrices.dtype)
    v = jnp.broadcast_to(start / jnp.linalg.norm(start), matrices.shape[:-1])

    def iterate(_, v):
        w = jnp.einsum("...ji,...j->...i", matrices, jnp.einsum("...ij,...j->...i", matrices, v))
        return w / jnp.maximum(jnp.linalg.norm(w, axis=-1, keepdims=True), jnp.finfo(w.dtype).tiny)

    v = jax.lax.fori_loop(0, iterations, iterate, v)
    return scale * jnp.linalg.norm(jnp.einsum("...ij,...j->...i", matrices, v), axis=-1)


def recurrent_blocks(cell: Cell, cell_params) -> np.ndarray | None:
    """The gate blocks ``[..., G, n, n]`` of the cell's recurrent matrix (host numpy, float64 or
    complex128), or ``None`` for a cell without one (``mingru``, ``minlstm``)."""
    if cell.hooks.recurrent_matrix is None:
        return None
    w = cell.hooks.recurrent_matrix(cell_params)
    if w is None:
        return None
    w = np.asarray(w)
    w = w.astype(np.complex128 if np.iscomplexobj(w) else np.float64)
    size = w.shape[-1]
    return w.reshape(w.shape[:-2] + (w.shape[-2] // size, size, size))


def recurrent_spectra(cell: Cell, cell_params, *, top: int = 4) -> dict[str, np.ndarray] | None:
    """Spectral radius and largest singular values of each gate block of the cell's recurrent
    matrix, ``W_hh`` for the classic cells (host numpy).

    Args:
        cell: the cell (its ``hooks.recurrent_matrix``: ``expm(A - Aᵀ)`` for ``exprnn``, ``diag(λ)``
            for ``lru``).
        cell_params: one cell's parameters (any leading stacked axes are kept).
        top: how many singular values to keep.

    Returns:
        ``{"radius": [..., G], "singular_values": [..., G, top], "eigenvalues": [..., G, n]}``
        (eigenvalues complex), or ``None`` for a cell without a recurrent matrix.
    """
    blocks = recurrent_blocks(cell, cell_params)
    if blocks is None:
        return None
    hidden = blocks.shape[-1]
    eigenvalues = np.linalg.eigvals(blocks)
    singular = np.linalg.svd(blocks, compute_uv=False)[..., : min(top, hidden)]
    return {rundir.RADIUS: np.max(np.abs(eigenvalues), axis=-1), rundir.SINGULAR_VALUES: singular,
            rundir.EIGENVALUES: eigenvalues.astype(np.complex64)}


LYAPUNOV_TOP = 8
"""How many of the largest Lyapunov exponents the runner records (all, for a smaller state)."""


def finite_time_lyapunov(cell: Cell, params, xs: jax.Array, *, top: int = LYAPUNOV_TOP) -> jax.Array:
    """The ``top`` largest finite-time Lyapunov exponents of ``cell`` driven by the task's own
    sequences ``xs[b, t, i]``, averaged over them: ``[min(top, n)]``. A quarter of the steps
    is the state's transient and a quarter the frame's (:func:`rnn_jax.analysis.dynamics.
    lyapunov_spectrum`), so on short sequences the estimate is over few steps; padded steps
    of variable-length sequences count as steps of zero input."""
    steps = xs.shape[-2]
    return jnp.mean(dynamics.lyapunov_spectrum(cell, params, xs, num=min(top, CarryVector.state_size(cell, params)), state_warmup=steps // 4,
                                               frame_warmup=steps // 4), axis=0)


RECORDABLE = (rundir.GRAD_NORMS, rundir.JACOBIAN_SPECTRAL, rundir.LYAPUNOV, rundir.CREDIT_ALIGNMENT)
"""What :func:`record` can record at a diagnostics step (``runner.run(..., diagnose=...)``)."""
DEFAULT = RECORDABLE[:3]
"""What the runner records unless told: all but ``credit_alignment``, which only a run with
another gradient rule than BPTT's needs."""
ALIGNMENT_DRAWS = 8
"""Draws of a stochastic rule (``uoro``) behind a recorded ``credit_alignment``."""


def check_recordable(what, name: str = "diagnose") -> tuple[str, ...]:
    """``what`` (names of :data:`RECORDABLE`) checked, without repeats, in :data:`RECORDABLE`'s order."""
    if isinstance(what, str) or not isinstance(what, (tuple, list)):
        raise TypeError(f"{name}={what!r} must be a tuple of names from {', '.join(RECORDABLE)}")
    unknown = [w for w in what if w not in RECORDABLE]
    if unknown:
        raise ValueError(f"{name} names {', '.join(map(repr, unknown))}; expected names from {', '.join(RECORDABLE)}")
    return tuple(w for w in RECORDABLE if w in what)


def record(model: SequenceModel, params, batch: Batch, task: Task, *, jacobian_batch: int,
           what: tuple[str, ...] = DEFAULT, rule: credit.Rule = credit.Rule.BPTT,
           truncation: int | None = None) -> dict[str, jax.Array]:
    """What the runner records for one member at a diagnostics step (pure; runs compiled),
    those of ``what`` only: ``grad_norms`` ``[layers, t]`` on ``batch``, and
    ``jacobian_spectral`` ``[t]`` and ``lyapunov`` (:func:`finite_time_lyapunov`) of the first
    layer's forward cell on the first ``jacobian_batch`` sequences. Each is a large share of
    the compile (an LSTM at h = 32, T = 100: 0.29, 0.57 and 0.46 s of XLA on their own), so a
    run compiles only what it records. ``credit_alignment`` ``[3]``: the run's gradient
    ``rule`` (BPTT truncated at ``truncation``) against full BPTT on ``batch``
    (:func:`rnn_jax.credit.alignment`: cosine, variance over :data:`ALIGNMENT_DRAWS` draws,
    norm ratio)."""
    cell_params, inputs = model.cell_params(params)[0][0], batch.inputs[:jacobian_batch]

    def alignment():
        draws = ALIGNMENT_DRAWS if rule.stochastic else 1
        found = credit.alignment(rule, model, params, batch, lambda outputs: task.loss(outputs, batch),
                                 key=jax.random.key(0), draws=draws, truncation=None if rule.forward else truncation)
        return jnp.stack(list(found))

    compute = {
        rundir.GRAD_NORMS: lambda: hidden_grad_norms(model, params, batch, task),
        rundir.JACOBIAN_SPECTRAL: lambda: jacobian_norms(model.cell_fn, cell_params, inputs, norm=MatrixNorm.SPECTRAL),
        rundir.LYAPUNOV: lambda: finite_time_lyapunov(model.cell_fn, cell_params, inputs),
        rundir.CREDIT_ALIGNMENT: alignment,
    }
    return {name: compute[name]() for name in what}


def model_spectra(model: SequenceModel, params) -> dict[str, np.ndarray]:
    """:func:`recurrent_spectra` of every layer and direction (host numpy, any leading member
    axes kept): ``radius`` ``[..., layers, directions, G]``, ``singular_values``
    ``[..., layers, directions, G, k]`` and ``eigenvalues`` ``[..., layers, directions, G, n]``,
    padded with NaN to the widest layer's ``k`` and ``n``; ``{}`` for a cell without a
    recurrent matrix."""
    cell = model.cell_fn
    matrix = cell.hooks.recurrent_matrix
    if matrix is None or matrix(model.cell_params(params)[0][0]) is None:
        return {}
    per_layer = [[recurrent_spectra(cell, p) for p in layer] for layer in model.cell_params(params)]
    def stack(name, trailing):  # directions, then layers, before the trailing axes
        width = max(s[name].shape[-1] for layer in per_layer for s in layer)

        def pad(a):
            return np.pad(a, [(0, 0)] * (a.ndim - 1) + [(0, width - a.shape[-1])], constant_values=np.nan)

        layers = [np.stack([pad(s[name]) for s in layer], axis=-1 - trailing) for layer in per_layer]
        return np.stack(layers, axis=-2 - trailing)

    return {rundir.RADIUS: stack(rundir.RADIUS, 1), rundir.SINGULAR_VALUES: stack(rundir.SINGULAR_VALUES, 2),
            rundir.EIGENVALUES: stack(rundir.EIGENVALUES, 2)}
