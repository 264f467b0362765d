"""OptimConfig -> optax chains: equal to optax's own optimisers, schedules, injection, clipping."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from rnn_jax import optim
from rnn_jax.training.optim import OptimConfig

pytestmark = pytest.mark.usefixtures("standard_dtype_promotion")

PARAMS = {"w": jnp.arange(6.0).reshape(2, 3) / 7, "b": jnp.array([0.5, -0.25])}


def _grads(i):
    return jax.tree.map(lambda a: jnp.sin(a * (i + 1)) * 3.0, PARAMS)


def _run(tx, steps=5):
    params, state = PARAMS, tx.init(PARAMS)
    for i in range(steps):
        updates, state = tx.update(_grads(i), state, params)
        params = optax.apply_updates(params, updates)
    return params


@pytest.mark.parametrize(
    "cfg,reference",
    [
        (OptimConfig("sgd", 0.1, clipping="none"), optax.sgd(0.1)),
        (OptimConfig("momentum", 0.1, clipping="none"), optax.sgd(0.1, momentum=0.9)),
        (OptimConfig("nesterov", 0.1, clipping="none"), optax.sgd(0.1, momentum=0.9, nesterov=True)),
        (OptimConfig("rmsprop", 0.01, clipping="none"), optax.rmsprop(0.01, decay=0.9, eps=1e-8)),
        (OptimConfig("adam", 0.01, clipping="none"), optax.adam(0.01)),
        (OptimConfig("adamw", 0.01, clipping="none"), optax.adamw(0.01, weight_decay=1e-4)),
        (
            OptimConfig("adam", 0.01, clip=0.5),
            optax.chain(optax.clip_by_global_norm(0.5), optax.adam(0.01)),
        ),
        (OptimConfig("sgd", 0.1, clipping="value", clip=0.2), optax.chain(optax.clip(0.2), optax.sgd(0.1))),
        (
            OptimConfig("sgd", 0.1, clipping="adaptive", clip=0.05),
            optax.chain(optax.adaptive_grad_clip(0.05), optax.sgd(0.1)),
        ),
        (
            OptimConfig("adam", 0.01, clipping="none", schedule="warmup_cosine", warmup_steps=2, decay_steps=5),
            optax.adam(optax.warmup_cosine_decay_schedule(0.0, 0.01, 2, 5, 0.0)),
        ),
        (
            OptimConfig("sgd", 0.1, clipping="none", schedule="exponential", decay_steps=2, decay_rate=0.5),
            optax.sgd(optax.exponential_decay(0.1, 2, 0.5)),
        ),
        (
            OptimConfig("sgd", 0.1, clipping="none", schedule="linear", decay_steps=4, end_factor=0.25),
            optax.sgd(optax.linear_schedule(0.1, 0.025, 4)),
        ),
    ],
    ids=lambda v: getattr(v, "optimizer", None) and f"{v.optimizer}-{v.clipping}-{v.schedule}",
)
def test_chain_equals_optax_reference(cfg, reference):
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7), _run(optim.build(cfg)), _run(reference)
    )


def test_warmup_applies_to_every_schedule():
    shape = optim.schedule_shape(OptimConfig(schedule="constant", warmup_steps=4))
    np.testing.assert_allclose([float(shape(s)) for s in range(6)], [0, 0.25, 0.5, 0.75, 1, 1])


def test_injected_learning_rate_and_clip_change_without_retracing():
    cfg = OptimConfig("sgd", 0.1, clip=1.0)
    tx = optim.build(cfg)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(lr, clip):
        state = optim.set_hyperparams(tx.init(PARAMS), learning_rate=lr, clip=clip)
        updates, _ = tx.update(_grads(0), state, PARAMS)
        return updates

    a = step(0.1, 1.0)
    b = step(0.2, 1.0)
    c = step(0.1, 1e6)  # effectively unclipped
    chex.assert_trees_all_close(jax.tree.map(lambda x: 2 * x, a), b, rtol=1e-6)
    chex.assert_trees_all_close(c, jax.tree.map(lambda y: -0.1 * y, _grads(0)), rtol=1e-6)
    with pytest.raises(ValueError, match="momentum"):
        optim.set_hyperparams(tx.init(PARAMS), momentum=0.5)


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"optimizer": "adagrad"}, ValueError, "optimizer='adagrad'"),
        ({"schedule": "cosine"}, ValueError, "schedule='cosine'"),
        ({"clipping": "norm"}, ValueError, "clipping='norm'"),
        ({"learning_rate": 0.0}, ValueError, "learning_rate=0.0"),
        ({"learning_rate": -1e-3}, ValueError, "learning_rate"),
        ({"clip": 0.0}, ValueError, "clip=0.0"),
        ({"clip": float("inf")}, ValueError, "clip=inf"),
        ({"momentum": 1.0}, ValueError, "momentum=1.0"),
        ({"weight_decay": -1.0}, ValueError, "weight_decay"),
        ({"decay_steps": 0}, ValueError, "decay_steps=0"),
        ({"schedule": "warmup_cosine", "warmup_steps": 10, "decay_steps": 10}, ValueError, "warmup_steps=10"),
        ({"learning_rate": "fast"}, TypeError, "learning_rate='fast'"),
    ],
)
def test_bad_optim_configs(kwargs, error, match):
    with pytest.raises(error, match=match):
        OptimConfig(**kwargs)


def test_rmsprop_constants_follow_arjovsky_et_al_s_update():
    """Their ``optimizations.rms_prop``: ms starts at 1e-3, ms' = 0.9 ms + 0.1 g², step lr g / sqrt(ms')."""
    cfg = OptimConfig("rmsprop", 1e-3, clipping="none", rms_initial_scale=1e-3, rms_eps=0.0)
    params = {k: np.asarray(v, np.float64) for k, v in PARAMS.items()}
    ms = {k: np.full_like(v, 1e-3) for k, v in params.items()}
    for i in range(5):
        for k, g in _grads(i).items():
            ms[k] = 0.9 * ms[k] + 0.1 * np.asarray(g, np.float64) ** 2
            params[k] = params[k] - 1e-3 * np.asarray(g, np.float64) / np.sqrt(ms[k])
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5), _run(optim.build(cfg)), params)
    reference = optax.rmsprop(1e-3, decay=0.9, eps=0.0, initial_scale=1e-3)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), _run(optim.build(cfg)), _run(reference))


def test_parameter_groups_scale_their_rate_and_keep_it_sweepable():
    """expRNN's setup: ``a`` at a tenth of the rate. Element-wise optimisers make the grouped
    update exactly the ungrouped one times the scale; weight decay applies per group."""
    params = {"a": jnp.ones((2, 2)) * 0.3, "w": jnp.arange(3.0) / 5}
    grads = {"a": jnp.full((2, 2), 0.7), "w": jnp.array([0.1, -0.2, 0.3])}
    grouped = OptimConfig("rmsprop", 1e-3, clipping="none", groups=(optim.ParamGroup("a", lr_scale=0.1),))
    plain = OptimConfig("rmsprop", 1e-3, clipping="none")

    def update(cfg, lr=None):
        tx = optim.build(cfg)
        state = tx.init(params)
        if lr is not None:
            state = optim.set_hyperparams(state, learning_rate=lr)
        return tx.update(grads, state, params)[0]

    mine, ref = update(grouped), update(plain)
    np.testing.assert_allclose(mine["a"], 0.1 * ref["a"], rtol=1e-6)
    np.testing.assert_allclose(mine["w"], ref["w"], rtol=1e-6)
    doubled = update(grouped, lr=2e-3)  # the injected rate multiplies every group
    chex.assert_trees_all_close(doubled, jax.tree.map(lambda u: 2 * u, mine), rtol=1e-6)
    # the same as optax.partition written by hand
    by_hand = optax.chain(optax.partition({"g": optax.chain(optax.scale_by_rms(0.9), optax.scale(0.1)),
                                           "rest": optax.scale_by_rms(0.9)}, {"a": "g", "w": "rest"}),
                          optax.scale(-1e-3))
    chex.assert_trees_all_close(mine, by_hand.update(grads, by_hand.init(params), params)[0], rtol=1e-6)
    decayed = OptimConfig("sgd", 0.1, clipping="none", weight_decay=0.5, groups=(optim.ParamGroup("a", weight_decay=0.0),))
    out = optim.build(decayed).update(grads, optim.build(decayed).init(params), params)[0]
    np.testing.assert_allclose(out["a"], -0.1 * grads["a"], rtol=1e-6)  # no decay on the group
    np.testing.assert_allclose(out["w"], -0.1 * (grads["w"] + 0.5 * params["w"]), rtol=1e-6)


def test_groups_match_a_name_or_a_path_first_group_first():
    cfg = OptimConfig(groups=(optim.ParamGroup("layers/0/*"), optim.ParamGroup("a")))
    assert cfg.group_of("layers/0/forward/a") == 0 and cfg.group_of("layers/1/forward/a") == 1
    assert cfg.group_of("head/w") is None
