"""``OptimConfig`` -> an optax ``GradientTransformation``, built only from optax parts.

The chain is ``clip -> optimizer -> (weight decay) -> schedule shape -> learning rate``. The
learning rate and the clip threshold are injected hyperparameters
(``optax.inject_hyperparams``): they live in the optimiser state as arrays, so a runner can
give every seed its own value (a sweep) without recompiling. The schedule is a shape with
peak 1 that multiplies the injected learning rate.

Clipping (Pascanu, Mikolov & Bengio 2013, "On the difficulty of training recurrent neural
networks", Algorithm 1 is ``global_norm``): ``none``, ``global_norm``
(``optax.clip_by_global_norm``), ``value`` (element-wise, ``optax.clip``) or ``adaptive``
(``optax.adaptive_grad_clip``, Brock et al. 2021). Because the chain runs inside the vmapped
training function, each seed is clipped by its own norm.
"""

from __future__ import annotations

import dataclasses
import enum

import jax.numpy as jnp
import optax

from rnn_jax import _checks
from rnn_jax.hparams import INJECTED


class Optimizer(enum.StrEnum):
    SGD = "sgd"
    MOMENTUM = "momentum"
    NESTEROV = "nesterov"
    RMSPROP = "rmsprop"
    ADAM = "adam"
    ADAMW = "adamw"


class Schedule(enum.StrEnum):
    CONSTANT = "constant"
    WARMUP_COSINE = "warmup_cosine"
    EXPONENTIAL = "exponential"
    LINEAR = "linear"


class Clipping(enum.StrEnum):
    NONE = "none"
    GLOBAL_NORM = "global_norm"
    VALUE = "value"
    ADAPTIVE = "adaptive"


@dataclasses.dataclass(frozen=True)
class OptimConfig:
    """How parameters are updated.

    Attributes:
        optimizer: sgd, momentum, nesterov, rmsprop, adam (default) or adamw.
        learning_rate: peak learning rate (> 0); injectable, so sweepable as an array.
        schedule: constant (default), warmup_cosine, exponential or linear.
        warmup_steps: linear warm-up from 0 before the schedule (every schedule).
        decay_steps: steps over which warmup_cosine / linear decay to ``end_factor`` and
            after which exponential has multiplied the rate by ``decay_rate``.
        end_factor: final learning rate as a fraction of the peak (cosine, linear).
        decay_rate: exponential decay per ``decay_steps`` (in (0, 1]).
        clipping: none, global_norm (default), value or adaptive.
        clip: the threshold (> 0): max global norm, max |g|, or the AGC ratio; injectable.
        weight_decay: adamw: decoupled decay (Loshchilov & Hutter 2019); other optimisers:
            L2 added to the gradient (PyTorch's ``weight_decay``). ``None``: adamw 1e-4,
            others 0.
        momentum: for momentum / nesterov.
        rms_decay: the squared-gradient average of rmsprop (0.9, Tieleman & Hinton 2012).
    """

    optimizer: Optimizer = Optimizer.ADAM
    learning_rate: float = 1e-3
    schedule: Schedule = Schedule.CONSTANT
    warmup_steps: int = 0
    decay_steps: int = 10_000
    end_factor: float = 0.0
    decay_rate: float = 0.1
    clipping: Clipping = Clipping.GLOBAL_NORM
    clip: float = 1.0
    weight_decay: float | None = None
    momentum: float = 0.9
    rms_decay: float = 0.9

    def __post_init__(self):
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        set_("optimizer", _checks.choice(Optimizer, self.optimizer, "optimizer"))
        set_("schedule", _checks.choice(Schedule, self.schedule, "schedule"))
        set_("clipping", _checks.choice(Clipping, self.clipping, "clipping"))
        _checks.positive(self.learning_rate, "learning_rate")
        _checks.positive(self.clip, "clip")
        _checks.nonneg_int(self.warmup_steps, "warmup_steps")
        _checks.positive_int(self.decay_steps, "decay_steps")
        _checks.number(self.end_factor, "end_factor", low=0.0, high=1.0)
        _checks.number(self.decay_rate, "decay_rate", low=0.0, high=1.0, low_open=True)
        _checks.number(self.momentum, "momentum", low=0.0, high=1.0, high_open=True)
        _checks.number(self.rms_decay, "rms_decay", low=0.0, high=1.0, low_open=True, high_open=True)
        if self.weight_decay is not None:
            _checks.number(self.weight_decay, "weight_decay", low=0.0)
        if self.schedule is Schedule.WARMUP_COSINE and self.warmup_steps >= self.decay_steps:
            raise ValueError(
                f"warmup_steps={self.warmup_steps} must be < decay_steps={self.decay_steps} for warmup_cosine"
            )

    @property
    def decay(self) -> float:
        if self.weight_decay is not None:
            return float(self.weight_decay)
        return 1e-4 if self.optimizer is Optimizer.ADAMW else 0.0


def schedule_shape(cfg: OptimConfig) -> optax.Schedule:
    """The learning-rate multiplier against step, with peak 1."""
    match cfg.schedule:
        case Schedule.WARMUP_COSINE:
            return optax.warmup_cosine_decay_schedule(0.0, 1.0, cfg.warmup_steps, cfg.decay_steps, cfg.end_factor)
        case Schedule.CONSTANT:
            shape = optax.constant_schedule(1.0)
        case Schedule.EXPONENTIAL:
            shape = optax.exponential_decay(1.0, cfg.decay_steps, cfg.decay_rate)
        case Schedule.LINEAR:
            shape = optax.linear_schedule(1.0, cfg.end_factor, cfg.decay_steps)
    if cfg.warmup_steps:
        warmup = optax.linear_schedule(0.0, 1.0, cfg.warmup_steps)
        shape = optax.join_schedules([warmup, shape], [cfg.warmup_steps])
    return shape


def clipping(kind: Clipping | str, threshold) -> optax.GradientTransformation:
    """The (stateless) clipping transformation; ``threshold`` may be a traced array."""
    match _checks.choice(Clipping, kind, "clipping"):
        case Clipping.NONE:
            return optax.identity()
        case Clipping.GLOBAL_NORM:
            return optax.clip_by_global_norm(threshold)
        case Clipping.VALUE:
            return optax.clip(threshold)
        case Clipping.ADAPTIVE:
            return optax.adaptive_grad_clip(threshold)


def _scaling(cfg: OptimConfig) -> optax.GradientTransformation:
    decay = cfg.decay
    match cfg.optimizer:
        case Optimizer.SGD:
            core = optax.identity()
        case Optimizer.MOMENTUM | Optimizer.NESTEROV:
            core = optax.trace(decay=cfg.momentum, nesterov=cfg.optimizer is Optimizer.NESTEROV)
        case Optimizer.RMSPROP:
            core = optax.scale_by_rms(decay=cfg.rms_decay)
        case Optimizer.ADAM | Optimizer.ADAMW:
            core = optax.scale_by_adam()
    if not decay:
        return core
    if cfg.optimizer is Optimizer.ADAMW:  # decoupled: after the adaptive scaling
        return optax.chain(core, optax.add_decayed_weights(decay))
    return optax.chain(optax.add_decayed_weights(decay), core)  # L2 on the gradient


def build(cfg: OptimConfig, *, include_clipping: bool = True) -> optax.GradientTransformation:
    """The optax chain for ``cfg``, with ``learning_rate`` and ``clip`` injectable.

    Args:
        cfg: the optimiser configuration.
        include_clipping: ``False`` leaves the clipping out of the chain, for a caller that
            clips the gradients itself with :func:`clipping` (the trainer does, to report
            the clipped norm without clipping twice). ``clip`` stays in the state either way.

    Returns:
        An ``optax.GradientTransformationExtraArgs`` whose state has
        ``state.hyperparams["learning_rate"]`` and ``["clip"]``; change them with
        :func:`set_hyperparams`.
    """
    if not isinstance(cfg, OptimConfig):
        raise TypeError(f"cfg must be an OptimConfig, got {type(cfg).__name__}")

    def chain(learning_rate, clip):
        clip_part = [clipping(cfg.clipping, clip)] if include_clipping else []
        return optax.chain(
            *clip_part,
            _scaling(cfg),
            optax.scale_by_schedule(schedule_shape(cfg)),
            optax.scale_by_learning_rate(learning_rate),
        )

    return optax.inject_hyperparams(chain)(**{name: float(getattr(cfg, name)) for name in INJECTED})


def set_hyperparams(opt_state, **values):
    """A copy of an injected optimiser state with new ``learning_rate`` / ``clip`` values."""
    unknown = set(values) - set(INJECTED)
    if unknown:
        raise ValueError(f"cannot inject {sorted(unknown)}; injectable: {', '.join(INJECTED)}")
    hyper = dict(opt_state.hyperparams)
    for name, value in values.items():
        hyper[name] = jnp.asarray(value, dtype=hyper[name].dtype)
    return opt_state._replace(hyperparams=hyper)
