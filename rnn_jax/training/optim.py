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

Parameter groups (:class:`ParamGroup`) give the parameters whose names match a pattern
their own learning-rate scale and weight decay, through ``optax.partition``; the injected
learning rate still multiplies every group, so it stays sweepable as an array.
"""

from __future__ import annotations

import dataclasses
import enum
import fnmatch

from typing import Any

import jax
import jax.numpy as jnp
import optax

from rnn_jax import _checks
from rnn_jax.training.hparams import INJECTED


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
class ParamGroup:
    """Parameters updated with their own learning-rate scale and weight decay.

    Attributes:
        pattern: an ``fnmatch`` pattern matched against each parameter's name (its last key,
            ``"a"``) and its path (``"layers/0/forward/a"``); the first group that matches wins.
        lr_scale: multiplies the (injected) learning rate for these parameters (> 0).
        weight_decay: replaces :attr:`OptimConfig.weight_decay` for them (``None``: the same).

    References:
        expRNN (Lezcano-Casado & Martínez-Rubio 2019) trains the skew parameter ``A`` at a
        tenth of the others' rate: ``ParamGroup("a", lr_scale=0.1)``.
    """

    pattern: str
    lr_scale: float = 1.0
    weight_decay: float | None = None

    def __post_init__(self):
        if not isinstance(self.pattern, str) or not self.pattern:
            raise ValueError(f"ParamGroup pattern={self.pattern!r}: expected a non-empty fnmatch pattern")
        _checks.positive(self.lr_scale, "lr_scale")
        if self.weight_decay is not None:
            _checks.number(self.weight_decay, "weight_decay", low=0.0)

    def matches(self, path: str) -> bool:
        """Whether the parameter at ``path`` matches the group's pattern, as a whole path or by its last part."""
        return fnmatch.fnmatchcase(path, self.pattern) or fnmatch.fnmatchcase(path.rsplit("/", 1)[-1], self.pattern)


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
        rms_eps: rmsprop's ε, added to the average under the square root (>= 0).
        rms_initial_scale: rmsprop's average before the first step (>= 0; Arjovsky et al.
            2016's code starts it at 1e-3).
        groups: :class:`ParamGroup` s with their own learning-rate scale and weight decay;
            the parameters no group matches use the config's own values.
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
    rms_eps: float = 1e-8
    rms_initial_scale: float = 0.0
    groups: tuple[ParamGroup, ...] = ()

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
        _checks.number(self.rms_eps, "rms_eps", low=0.0)
        _checks.number(self.rms_initial_scale, "rms_initial_scale", low=0.0)
        if self.optimizer is Optimizer.RMSPROP and self.rms_eps == 0 and self.rms_initial_scale == 0:
            raise ValueError("rms_eps=0 with rms_initial_scale=0 divides by zero at the first step; "
                             "expected one of them > 0")
        if self.weight_decay is not None:
            _checks.number(self.weight_decay, "weight_decay", low=0.0)
        set_("groups", tuple(self.groups))
        for group in self.groups:
            if not isinstance(group, ParamGroup):
                raise TypeError(f"groups must hold ParamGroup objects, got {type(group).__name__}")
        if self.schedule is Schedule.WARMUP_COSINE and self.warmup_steps >= self.decay_steps:
            raise ValueError(
                f"warmup_steps={self.warmup_steps} must be < decay_steps={self.decay_steps} for warmup_cosine"
            )

    @property
    def decay(self) -> float:
        if self.weight_decay is not None:
            return float(self.weight_decay)
        return 1e-4 if self.optimizer is Optimizer.ADAMW else 0.0

    def group_of(self, path: str) -> int | None:
        """The index of the first group whose pattern matches ``path``, else ``None``."""
        return next((i for i, group in enumerate(self.groups) if group.matches(path)), None)


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


def _scaling(cfg: OptimConfig, decay: float) -> optax.GradientTransformation:
    match cfg.optimizer:
        case Optimizer.SGD:
            core = optax.identity()
        case Optimizer.MOMENTUM | Optimizer.NESTEROV:
            core = optax.trace(decay=cfg.momentum, nesterov=cfg.optimizer is Optimizer.NESTEROV)
        case Optimizer.RMSPROP:
            core = optax.scale_by_rms(decay=cfg.rms_decay, eps=cfg.rms_eps, initial_scale=cfg.rms_initial_scale)
        case Optimizer.ADAM | Optimizer.ADAMW:
            core = optax.scale_by_adam()
    if not decay:
        return core
    if cfg.optimizer is Optimizer.ADAMW:  # decoupled: after the adaptive scaling
        return optax.chain(core, optax.add_decayed_weights(decay))
    return optax.chain(optax.add_decayed_weights(decay), core)  # L2 on the gradient


def _path_name(path) -> str:
    return "/".join(str(getattr(k, "key", getattr(k, "idx", getattr(k, "name", k)))) for k in path)


def group_labels(cfg: OptimConfig, params) -> Any:
    """Each parameter's group, as ``optax.partition`` labels: ``"group_i"`` or ``"rest"``."""
    def label(path, _):
        index = cfg.group_of(_path_name(path))
        return "rest" if index is None else f"group_{index}"

    return jax.tree_util.tree_map_with_path(label, params)


def _grouped_scaling(cfg: OptimConfig) -> optax.GradientTransformation:
    """The optimiser core, one per parameter group (``optax.partition``) when groups are given."""
    if not cfg.groups:
        return _scaling(cfg, cfg.decay)
    transforms = {"rest": _scaling(cfg, cfg.decay)}
    for i, group in enumerate(cfg.groups):
        decay = cfg.decay if group.weight_decay is None else float(group.weight_decay)
        transforms[f"group_{i}"] = optax.chain(_scaling(cfg, decay), optax.scale(group.lr_scale))
    return optax.partition(transforms, lambda params: group_labels(cfg, params))


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
            _grouped_scaling(cfg),
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
