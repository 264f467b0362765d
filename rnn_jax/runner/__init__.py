"""Many seeds × swept hyperparameters in one compiled program, chunk by chunk, resumable.

    result = run(cfg, seeds=8, sweep={"learning_rate": [1e-3, 1e-2]}, run_dir="runs/x")

The S seeds × P sweep points are M = S·P *members* (:mod:`~rnn_jax.runner.members`),
stacked on a leading axis and trained by compiled programs over that axis, sharded over
every device or run as groups on the CPU's cores (:mod:`~rnn_jax.runner.placement`).
:func:`run` (:mod:`~rnn_jax.runner.loop`; :func:`fit` is a run of one member) repeats a compiled chunk of ``eval_every`` steps
and an evaluation; what happens between chunks (metrics, diagnostics, checkpoints, status,
progress, divergence reports) is :mod:`~rnn_jax.runner.actions`. The run directory's format
is :mod:`rnn_jax.io.rundir`; :mod:`rnn_jax.io.results` reads it. A call that stops making
progress ends the run with one line (:mod:`~rnn_jax.runtime.watchdog`).
"""

from rnn_jax.io.results import RunResult
from rnn_jax.io.rundir import RunDir, WriteFailed, primary_process
from rnn_jax.runner.loop import fit, run
from rnn_jax.runner.members import Members, make_members
from rnn_jax.runner.placement import MemberPrograms, Placement, choose_members_per_call, cores
from rnn_jax.runtime.watchdog import EXIT_HUNG, Watchdog

__all__ = ["EXIT_HUNG", "MemberPrograms", "Members", "Placement", "RunDir", "RunResult", "Watchdog", "WriteFailed",
           "choose_members_per_call", "cores", "fit", "make_members", "primary_process", "run"]
