"""Linear Recurrent Unit (LRU): a complex diagonal linear recurrence with a real readout::

    λ = exp(-exp(ν) + i exp(θ))                     (exp-exp parameterisation: |λ| < 1)
    s' = λ ⊙ s + γ ⊙ (B x)                           (s complex, n = h/2 modes)
    y = Re(C s') + D x

``ν``, ``θ`` and ``γ`` are stored as logs (``nu_log``, ``theta_log``, ``gamma_log``). Ring
initialisation: ``|λ|`` is uniform on the ring ``r_min ≤ |λ| ≤ r_max`` of the complex plane
and ``arg λ ~ U[0, max_phase]``; γ normalisation sets ``γ = sqrt(1 - |λ|²)`` so that each
mode's state has the input's variance (``normalize=False``: ``γ = 1``).

Layout: ``w_ih [2n + h, i]`` stacks ``Re B``, ``Im B`` and ``D`` (one matmul projects the
inputs for both), ``c_re``/``c_im`` are ``[h, n]``. The carry is the state as ``h = 2n``
real numbers ``[Re s | Im s]``, so ``h`` must be even: the state has as many real
dimensions as a classic cell with ``h`` units, and a probe on it gives dL/ds_t for both
parts. Differences from the paper: it maps ``i`` inputs to ``h`` outputs with ``n = h/2``,
so ``D`` is a dense ``[h, i]`` matrix (``N(0, 1/i)``) where the paper's square layer has a
diagonal one (``N(0, 1)``); ``B ~ N(0, 1/(2i))``, ``C ~ N(0, 1/n)`` as in the paper.

The recurrence is linear in the state, so :func:`rnn_jax.unroll` can run it in parallel
over time (``mode="parallel"``).

References:
    Orvieto, Smith, Gu, Fernando, Gulcehre, Pascanu & De 2023, "Resurrecting recurrent neural
    networks for long sequences", ICML (Sec. 3 and Appendix A's code).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from rnn_jax import _checks
from rnn_jax._random import draw
from rnn_jax.cells import base


def eigenvalues(params) -> jax.Array:
    """``λ = exp(-exp(ν) + i exp(θ))``, ``[..., n]`` complex."""
    return jnp.exp(jax.lax.complex(-jnp.exp(params["nu_log"]), jnp.exp(params["theta_log"])))


def _modes(params) -> int:
    return params["nu_log"].shape[-1]


def lru(*, r_min: float = 0.9, r_max: float = 0.999, max_phase: float = 2 * math.pi, normalize: bool = True) -> base.Cell:
    """A Linear Recurrent Unit.

    Args:
        r_min: the inner radius of the ring ``r_min ≤ |λ| ≤ r_max`` of the initial
            eigenvalues. Default: the ring the paper uses for long-range tasks, 0.9 to 0.999
            (its code's defaults, 0 and 1, fill the whole unit disk).
        r_max: the ring's outer radius.
        max_phase: initial phases are ``U[0, max_phase]`` (the paper narrows it to π/10 on its
            longest tasks).
        normalize: γ normalisation (``γ = sqrt(1 - |λ|²)``, trained); ``False``: no γ.

    Returns:
        A :class:`~rnn_jax.cells.base.Cell` with a :class:`~rnn_jax.cells.base.LinearRecurrence`;
        its carry is ``[Re s | Im s]``, ``[*b, h]``.
    """
    r_min = _checks.number(r_min, "r_min", low=0.0, high=1.0, high_open=True)
    r_max = _checks.number(r_max, "r_max", low=0.0, high=1.0)
    if not r_min < r_max:
        raise ValueError(f"r_min={r_min!r} must be below r_max={r_max!r}")
    max_phase = _checks.number(max_phase, "max_phase", low=0.0, low_open=True)
    if not isinstance(normalize, bool):
        raise TypeError(f"normalize={normalize!r} must be a bool")

    def init(key, input_size: int, hidden_size: int):
        input_size, hidden_size = _checks.sizes(input_size, hidden_size, complex_state="lru: its state is h/2 complex modes")
        n = hidden_size // 2
        k_r, k_phase, k_b, k_d, k_c = jax.random.split(key, 5)
        u1 = jax.random.uniform(k_r, (n,), jnp.float32)
        u2 = jax.random.uniform(k_phase, (n,), jnp.float32)
        nu_log = jnp.log(-0.5 * jnp.log(u1 * (r_max**2 - r_min**2) + r_min**2))
        theta_log = jnp.log(max_phase * u2)
        params = {"nu_log": nu_log, "theta_log": theta_log}
        if normalize:
            params["gamma_log"] = jnp.log(jnp.sqrt(1.0 - jnp.abs(eigenvalues(params)) ** 2))
        w_b = draw(jax.random.normal, k_b, (2 * n, input_size), dtype=jnp.float32) / math.sqrt(2 * input_size)
        w_d = draw(jax.random.normal, k_d, (hidden_size, input_size), dtype=jnp.float32) / math.sqrt(input_size)
        c = draw(jax.random.normal, k_c, (2, hidden_size, n), dtype=jnp.float32) / math.sqrt(n)
        return {**params, "w_ih": jnp.concatenate([w_b, w_d]), "c_re": c[0], "c_im": c[1]}

    def coefficients(params, x_proj):
        n = _modes(params)
        re, im = x_proj[..., :n], x_proj[..., n : 2 * n]
        if "gamma_log" in params:
            gamma = jnp.broadcast_to(jnp.exp(params["gamma_log"]), re.shape)
            re, im = gamma * re, gamma * im
        bx = jax.lax.complex(re, im)
        return jnp.broadcast_to(eigenvalues(params), bx.shape), bx

    def output(params, carry, x_proj):
        c = jnp.concatenate([params["c_re"], -params["c_im"]], axis=-1)  # Re(C s) = [C_re, -C_im] @ [Re s; Im s]
        return base.linear(carry, c) + x_proj[..., 2 * _modes(params) :]

    linear = base.LinearRecurrence(coefficients, to_state=base.to_complex, from_state=base.to_real)
    return base.Cell(
        name="lru",
        init=init,
        initial_carry=lambda params, batch_shape: jnp.zeros((*batch_shape, 2 * _modes(params)), params["nu_log"].dtype),
        project_inputs=base.project_all_biases,  # no biases: xs @ w_ih.T
        step=linear.as_step(output),
        options=tuple(sorted({"r_min": r_min, "r_max": r_max, "max_phase": max_phase, "normalize": normalize}.items())),
        init_options=("max_phase", "r_max", "r_min"),  # normalize decides whether the step scales by γ
        linear_recurrence=linear,
        hooks=base.Hooks(output=output, recurrent_matrix=lambda params: jnp.vectorize(
            jnp.diag, signature="(n)->(n,n)")(eigenvalues(params))),
    )
