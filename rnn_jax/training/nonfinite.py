"""Where a diverged member's first NaN came from: a ``checkify`` replay of its step."""

from __future__ import annotations

import os
from typing import Any

import jax
import jax.numpy as jnp

from rnn_jax.training.state import TrainState


def _source_line(error: BaseException | None) -> str | None:
    """``file:line (code)`` of the innermost traceback frame outside JAX's own sources."""
    import traceback

    if error is None:
        return None
    jax_dir = os.path.dirname(jax.__file__)
    frames = [f for f in traceback.extract_tb(error.__traceback__) if not f.filename.startswith(jax_dir)]
    if not frames:
        return None
    frame = frames[-1]
    return f"{frame.filename}:{frame.lineno} ({frame.line})"


def locate_nonfinite(trainer: Any, state: TrainState) -> str | None:
    """Replays the step at which one (unbatched) member of ``trainer`` (a
    :class:`~rnn_jax.training.trainer.Trainer`) diverged under ``checkify``'s
    float checks and returns where the first NaN/Inf came from (primitive, file and
    line), or ``None`` if the member has not diverged or the replay stays finite.

    Exact because a diverged member is frozen at the state before that step and the
    step's batch and dropout keys are ``fold_in(key, step)``.
    """
    from jax.experimental import checkify

    at = int(state.diverged_at)
    if at < 0:
        return None
    replay = state._replace(step=jnp.int32(at), diverged_at=jnp.int32(-1))

    def step(state):
        new_state, _ = trainer.train_step(state, trainer.sample_batch(state))
        return new_state.params

    error, _ = jax.jit(checkify.checkify(step, errors=checkify.float_checks))(replay)
    message = error.get()
    if message is None:
        return f"step {at}: no operation produced a NaN or divided by zero; a value overflowed to Inf"
    try:
        error.throw()
    except checkify.JaxRuntimeError as raised:
        where = _source_line(raised.__cause__)
    return f"step {at}: {message.splitlines()[0].rstrip('.')}" + (f" at {where}" if where else "")
