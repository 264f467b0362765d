"""Checkpoints of (stacked) training states with orbax: the only module that imports orbax.

PRNG keys are stored as their raw key data (``jax.random.key_data``) and wrapped again on
restore. Orbax writes each step into a temporary directory and renames it only when the
write is complete, so a run killed during a save leaves no checkpoint that
:meth:`Checkpointer.latest_step` would return.
"""

from __future__ import annotations

import os
from typing import Any

import jax

from rnn_jax.training.state import TrainState


def _to_storable(state: TrainState) -> TrainState:
    return state._replace(key=jax.random.key_data(state.key))


class Checkpointer:
    """Saves and restores :class:`~rnn_jax.training.state.TrainState` pytrees under ``directory``.

    Args:
        directory: where step directories go (created if missing).
        max_to_keep: how many of the newest checkpoints to keep.
    """

    saves = True

    def __init__(self, directory: str | os.PathLike, *, max_to_keep: int = 2):
        import orbax.checkpoint as ocp

        self._ocp = ocp
        self.directory = os.path.abspath(os.fspath(directory))
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, create=True, enable_async_checkpointing=False
        )
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def save(self, step: int, state: TrainState) -> None:
        """Writes ``state`` as checkpoint ``step`` (blocks until it is complete)."""
        self._manager.save(int(step), args=self._ocp.args.StandardSave(_to_storable(state)), force=True)
        self._manager.wait_until_finished()

    def latest_step(self) -> int | None:
        """The newest complete checkpoint's step, or ``None``."""
        self._manager.reload()
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        """The steps of every complete checkpoint on disk, sorted."""
        self._manager.reload()
        return sorted(self._manager.all_steps())

    def restore(self, step: int, like: TrainState) -> TrainState:
        """Reads checkpoint ``step`` into the structure, dtypes and shardings of ``like``."""
        storable = _to_storable(like)
        abstract = jax.tree.map(
            lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=getattr(a, "sharding", None)), storable
        )
        restored = self._manager.restore(int(step), args=self._ocp.args.StandardRestore(abstract))
        impl = jax.random.key_impl(like.key)
        return restored._replace(key=jax.random.wrap_key_data(restored.key, impl=impl))

    def close(self) -> None:
        """Waits for pending writes and releases the checkpoint manager."""
        self._manager.close()

    def __enter__(self) -> Checkpointer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
