"""``Gradient``: how a run's gradient is computed, one field of ``TrainConfig``.

    TrainConfig(gradient=Gradient())                                   # full BPTT (the default)
    TrainConfig(gradient=Gradient(truncation=8))                       # truncated BPTT
    TrainConfig(gradient=Gradient(truncation=8, stateful=True))        # a stream, one update per window
    TrainConfig(gradient=Gradient("rtrl", truncation=8, stateful=True))  # ... with RTRL's influence carried
    TrainConfig(gradient="uoro")                                       # a forward rule (a name is its rule)
    TrainConfig(gradient=Gradient(omega=2.0))                          # Pascanu et al.'s Ω added
    TrainConfig(gradient=Gradient(flossing=Flossing()))                # Engelken's gradient flossing

What needs only the gradient's own fields is checked when it is made; what needs the model
and the task (:meth:`Gradient.check`) when the :class:`~rnn_jax.training.TrainConfig` is.
"""

from __future__ import annotations

import dataclasses

import jax

from rnn_jax import _checks, credit
from rnn_jax.cells.carry_vector import CarryVector
from rnn_jax.credit.rules import Rule
from rnn_jax.model import SequenceModel
from rnn_jax.tasks.base import Task
from rnn_jax.training import regularizers
from rnn_jax.training.flossing import Flossing


@dataclasses.dataclass(frozen=True)
class Gradient:
    """The gradient of a training step.

    Attributes:
        rule: the credit rule (:class:`rnn_jax.credit.Rule`): ``"bptt"`` (default),
            ``"rtrl"``, ``"uoro"``, ``"snap1"``, ``"snap2"`` or ``"diagonal"``. The forward-mode
            rules train one unidirectional layer.
        truncation: ``k``: truncated BPTT, the gradient through the carry stops every ``k``
            steps (at most the task's ``seq_len``). With ``stateful``, the window length.
        stateful: each training sequence is a stream cut into windows of ``truncation``
            steps, with one optimiser update per window and the carry (and a forward rule's
            influence trace) passed from window to window, as Keras's ``stateful=True`` and
            online learning do. Per-step tasks whose ``seq_len`` is a multiple of ``truncation``.
        omega: α of Pascanu et al. 2013's regulariser Ω (:mod:`rnn_jax.training.regularizers`):
            ``α ∇Ω`` is added to the gradient before the optimizer (0: off; they used 2). For
            one-layer, unidirectional rnn / irnn models and full BPTT.
        flossing: gradient flossing (Engelken 2023, :mod:`rnn_jax.training.flossing`): the
            first layer's largest Lyapunov exponents pushed towards 0 before training and in
            episodes during it (``None``: off).
    """

    rule: Rule = Rule.BPTT
    truncation: int | None = None
    stateful: bool = False
    omega: float = 0.0
    flossing: Flossing | None = None

    def __post_init__(self):
        rule = _checks.choice(Rule, self.rule, "gradient.rule")
        object.__setattr__(self, "rule", rule)
        _checks.number(self.omega, "gradient.omega", low=0.0)
        if not isinstance(self.stateful, bool):
            raise TypeError(f"gradient.stateful={self.stateful!r} must be a bool")
        if self.flossing is not None and not isinstance(self.flossing, Flossing):
            raise TypeError(f"gradient.flossing must be a Flossing or None, got {type(self.flossing).__name__}")
        if self.omega and rule.forward:
            raise ValueError(f"gradient.omega={self.omega!r} is added to BPTT's gradient; gradient.rule={rule.value!r} "
                             "is not bptt")
        if self.truncation is None:
            if self.stateful:
                raise ValueError("gradient.stateful=True cuts each sequence into windows of gradient.truncation=k "
                                 "steps: give truncation")
            return
        k = _checks.positive_int(self.truncation, "gradient.truncation")
        if rule.forward and not self.stateful:
            raise ValueError(f"gradient.truncation={k} with gradient.rule={rule.value!r}: a forward rule carries "
                             f"credit across any window; set stateful=True to update every {k} steps, or use "
                             "rule='bptt'")
        if self.omega:
            raise ValueError(f"gradient.omega={self.omega!r} needs the full backward pass; it cannot be used with "
                             "truncation")
        if self.stateful and self.flossing is not None:
            raise ValueError("gradient.stateful=True cannot be combined with gradient.flossing")

    @classmethod
    def of(cls, value: Gradient | Rule | str) -> Gradient:
        """``value`` as a Gradient: a rule (or its name) is ``Gradient(rule)``."""
        if isinstance(value, Gradient):
            return value
        if isinstance(value, (Rule, str)):
            return cls(value)
        raise TypeError(f"gradient must be a Gradient or a rule name, got {type(value).__name__}")

    def check(self, model: SequenceModel, task: Task, batch_size: int) -> None:
        """A one-line ``ValueError`` unless this gradient can train ``model`` on ``task`` at
        ``batch_size``."""
        credit.check(self.rule, model, batch_size=batch_size, input_size=task.input_size, argument="gradient.rule")
        if self.omega and (model.num_layers != 1 or model.bidirectional or not regularizers.supports(model.cell_fn)):
            raise ValueError(f"gradient.omega={self.omega!r}: Pascanu et al.'s regulariser is defined here for "
                             f"one-layer, unidirectional rnn or irnn models; got {model.num_layers} layer(s) of "
                             f"{model.cell_fn.name!r}{', bidirectional' if model.bidirectional else ''}")
        if self.flossing is not None:
            self._check_flossing(model, task)
        if self.truncation is None:
            return
        k = self.truncation
        if k > task.seq_len:
            raise ValueError(f"gradient.truncation={k} is longer than the task's sequences (seq_len={task.seq_len}); "
                             f"it must be at most {task.seq_len}")
        model.loop_options(truncation=k)  # refuses a loop that cannot truncate
        if not self.stateful:
            return
        if not task.readout.per_step:
            raise ValueError(f"gradient.stateful=True scores every window, and task {task.name!r} scores only the end "
                             f"of each sequence (readout {task.readout.value!r}): use a per-step task")
        if task.seq_len % k:
            raise ValueError(f"gradient.stateful=True cuts sequences of seq_len={task.seq_len} into windows of "
                             f"truncation={k} steps: seq_len must be a multiple of truncation")
        if model.bidirectional:
            raise ValueError("gradient.stateful=True runs each stream forwards once; the model is bidirectional")
        if jax.eval_shape(lambda key: task.sample(key, 1), jax.random.key(0)).lengths is not None:
            raise ValueError(f"gradient.stateful=True needs sequences of one length; task {task.name!r} pads them")

    def _check_flossing(self, model: SequenceModel, task: Task) -> None:
        fl = self.flossing
        if fl.length > task.seq_len:
            raise ValueError(f"gradient.flossing.length={fl.length} exceeds the task's seq_len={task.seq_len}")
        cell = model.cell_fn
        params = jax.eval_shape(lambda k: cell.init(k, task.input_size, model.layer_sizes[0]), jax.random.key(0))
        size = CarryVector.state_size(cell, params)
        if fl.exponents > size:
            raise ValueError(f"gradient.flossing.exponents={fl.exponents} exceeds the first layer's state size "
                             f"{size} ({cell.name!r}, hidden {model.layer_sizes[0]})")
