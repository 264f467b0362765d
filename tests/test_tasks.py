"""Task generators: layouts, targets as stated functions of inputs, baselines, determinism."""

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax import tasks
from rnn_jax.tasks import ArrayTask

KEY = jax.random.key(0)


def _sample(task, n=4096, key=KEY):
    return jax.jit(task.sample, static_argnums=1)(key, n)


def test_adding_default_layout_and_targets():
    task = tasks.get("adding", seq_len=50)
    b = _sample(task)
    values, markers = np.asarray(b.inputs[..., 0]), np.asarray(b.inputs[..., 1])
    assert b.inputs.shape == (4096, 50, 2) and b.lengths is None
    np.testing.assert_array_equal(markers.sum(1), 2.0)  # exactly two markers
    first = markers[:, :25].argmax(1)
    second = 25 + markers[:, 25:].argmax(1)
    assert markers[:, :25].sum(1).min() == 1 and markers[:, 25:].sum(1).min() == 1  # one per half
    assert 0 <= values.min() and values.max() <= 1
    rows = np.arange(4096)
    np.testing.assert_allclose(b.targets[:, 0], values[rows, first] + values[rows, second], rtol=1e-6)
    # first marker uniform over the first half: each of 25 positions ~ 4096/25 times
    counts = np.bincount(first, minlength=25)
    assert counts.min() > 100 and counts.max() < 230


def test_adding_baseline_is_the_empirical_loss_of_predicting_one():
    task = tasks.get("adding", seq_len=20)
    b = _sample(task, 20000)
    empirical = float(jnp.mean((b.targets - 1.0) ** 2))
    # Var(x1 + x2) = 1/6; the sample mean's std error is about sqrt(Var((s-1)^2)/n) ~ 0.0014
    assert abs(empirical - task.baseline_loss) < 0.006
    assert task.baseline_loss == pytest.approx(1 / 6)


def test_adding_hs97_variant():
    task = tasks.get("adding", seq_len=40, variant="hs97")
    b = _sample(task)
    assert b.inputs.shape == (4096, 44, 2)
    lengths = np.asarray(b.lengths)
    assert lengths.min() == 40 and lengths.max() == 44
    markers, values = np.asarray(b.inputs[..., 1]), np.asarray(b.inputs[..., 0])
    assert np.all((markers == 1).sum(1) == 2)
    marked = np.argwhere(markers == 1)
    pos = marked[:, 1].reshape(-1, 2)
    assert pos[:, 0].max() < 19 and pos.min() >= 0  # both in the first T/2 - 1 steps
    first_in_ten = np.array([(p < 10).any() for p in pos])
    assert first_in_ten.all()
    x = np.where(markers == 1, values, 0).sum(1)
    np.testing.assert_allclose(b.targets[:, 0], 0.5 + x / 4, rtol=1e-6)
    valid = np.arange(44)[None] < lengths[:, None]
    assert np.all(values[~valid] == 0) and np.abs(values).max() <= 1
    baseline = float(jnp.mean((b.targets - 0.5) ** 2))
    assert abs(baseline - 1 / 24) < 0.003


def test_copy_layout_and_baseline():
    task = tasks.get("copy", delay=30)
    b = _sample(task, 2000)
    ids = np.asarray(b.inputs.argmax(-1))
    assert b.inputs.shape == (2000, 50, 10)
    symbols = ids[:, :10]
    assert symbols.min() >= 1 and symbols.max() <= 8
    np.testing.assert_array_equal(ids[:, 10:39], 0)
    np.testing.assert_array_equal(ids[:, 39], 9)
    np.testing.assert_array_equal(ids[:, 40:], 0)
    np.testing.assert_array_equal(b.targets[:, :40], 0)
    np.testing.assert_array_equal(b.targets[:, 40:], symbols)
    # memoryless predictor: certain blanks, then uniform over the 8 symbols
    logits = np.full((2000, 50, 10), -1e9, np.float32)
    logits[:, :40, 0] = 0.0
    logits[:, 40:, 1:9] = 0.0
    assert float(task.loss(jnp.asarray(logits), b)) == pytest.approx(10 * math.log(8) / 50, rel=1e-5)
    assert task.baseline_loss == pytest.approx(10 * math.log(8) / 50)
    assert tasks.get("copy", delay=100).baseline_loss == pytest.approx(0.173, abs=5e-4)
    # accuracy counts the 10 recalled symbols only
    perfect = jax.nn.one_hot(b.targets, 10) * 50.0
    assert float(task.metrics(perfect, b)["accuracy"]) == 1.0


def test_parity_targets_and_baseline():
    task = tasks.get("parity", seq_len=17)
    b = _sample(task)
    np.testing.assert_array_equal(b.targets[:, 0], np.asarray(b.inputs[..., 0]).sum(1) % 2)
    assert abs(float(b.targets.mean()) - 0.5) < 0.03
    zero_logits = jnp.zeros((4096, 1))
    assert float(task.loss(zero_logits, b)) == pytest.approx(math.log(2), rel=1e-6)


def test_forecast_targets_shifted_and_persistence_baseline():
    task = tasks.get("forecast", seq_len=60)
    b = _sample(task, 8000)
    np.testing.assert_array_equal(b.inputs[:, 1:], b.targets[:, :-1])
    persistence = float(task.loss(b.inputs, b))
    assert abs(persistence - task.baseline_loss) < 0.02 * task.baseline_loss


@pytest.mark.parametrize("permuted", [False, True])
def test_digits(permuted):
    task = tasks.get("digits", permuted=permuted)
    ev = task.eval_batch()
    assert task.seq_len == 64 and task.output_size == 10
    assert task.num_train + task.eval_size == 1797
    counts = np.bincount(np.asarray(ev.targets), minlength=10)
    assert counts.min() > 20  # every class in the test split
    again = tasks.get("digits", permuted=permuted).eval_batch()
    np.testing.assert_array_equal(ev.inputs, again.inputs)  # split and permutation are fixed
    plain = tasks.get("digits").eval_batch()
    if permuted:  # same images, pixels reordered by one fixed permutation
        assert not np.array_equal(ev.inputs, plain.inputs)
        np.testing.assert_allclose(np.sort(ev.inputs, 1), np.sort(plain.inputs, 1))
    assert task.baseline_loss == pytest.approx(math.log(10), abs=0.01)


def test_mnist1d():
    task = tasks.get("mnist1d")
    assert (task.num_train, task.eval_size, task.seq_len) == (4000, 1000, 40)
    counts = np.bincount(np.asarray(task.eval_batch().targets), minlength=10)
    assert counts.min() > 70 and counts.max() < 130  # balanced classes


@pytest.mark.parametrize("name", ["adding", "copy", "parity", "forecast", "digits"])
def test_sample_is_deterministic_in_its_key_and_jittable(name):
    task = tasks.get(name)
    a = _sample(task, 8, jax.random.key(3))
    again = _sample(task, 8, jax.random.key(3))
    eager = task.sample(jax.random.key(3), 8)
    c = _sample(task, 8, jax.random.key(4))
    chex.assert_trees_all_equal(a, again)
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, atol=1e-5), a, eager)  # XLA fusion may reorder flops
    assert not np.array_equal(a.inputs, c.inputs)
    chex.assert_trees_all_equal(task.eval_batch(), task.eval_batch())


def test_array_task_shapes_split_and_baselines():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 12, 3)).astype(np.float32)
    y = (rng.random(100) < 0.3).astype(np.float32)
    task = ArrayTask(x, y, loss="bce", validation_split=0.2)
    assert (task.num_train, task.eval_size, task.output_size) == (80, 20, 1)
    p = float(task._train[1].mean())
    assert task.baseline_loss == pytest.approx(-(p * math.log(p) + (1 - p) * math.log(1 - p)), rel=1e-5)
    # per-step regression with lengths; the baseline is the variance over valid steps
    ys = rng.normal(size=(100, 12, 2)).astype(np.float32)
    lengths = rng.integers(1, 13, 100)
    reg = ArrayTask(x, ys, lengths)
    assert reg.readout == "all"
    valid = np.arange(12)[None] < lengths[:, None]
    assert reg.baseline_loss == pytest.approx(float(ys[valid].var(0).mean()), rel=1e-4)
    labels = rng.integers(0, 4, 100)
    ce = ArrayTask(x, labels, loss="ce", validation=(x[:10], labels[:10]))
    assert ce.output_size == 4 and ce.eval_size == 10


@pytest.mark.parametrize(
    "make,error,match",
    [
        (lambda: tasks.get("adding", seq_len=1), ValueError, "seq_len=1"),
        (lambda: tasks.get("adding", seq_len=20, variant="hs97"), ValueError, "seq_len=20"),
        (lambda: tasks.get("adding", variant="hs98"), ValueError, "variant='hs98'"),
        (lambda: tasks.get("copy", delay=0), ValueError, "delay=0"),
        (lambda: tasks.get("parity", seq_len=-3), ValueError, "seq_len=-3"),
        (lambda: tasks.get("forecast", periods=(3.0,), amplitudes=(1.0, 2.0)), ValueError, "periods"),
        (lambda: tasks.get("forecast", noise=-0.1), ValueError, "noise"),
        (lambda: tasks.get("linear_system", min_nu=1.0), ValueError, "min_nu=1.0"),
        (lambda: tasks.get("first_input", noise=-1.0), ValueError, "noise"),
        (lambda: tasks.get("first_input", noise_channels=0), ValueError, "noise_channels=0"),
        (lambda: tasks.get("linear_system", min_nu=0.9, max_nu=0.5), ValueError, "min_nu=0.9"),
        (lambda: tasks.get("linear_system", teacher_seed=-1), TypeError, "teacher_seed=-1"),
        (lambda: tasks.get("digits", permuted="yes"), TypeError, "permuted"),
        (lambda: tasks.get("addding"), ValueError, "task='addding'"),
        (lambda: tasks.get("adding", lenght=3), TypeError, "lenght"),
        (lambda: tasks.get("adding").sample(KEY, 0), ValueError, "batch_size=0"),
        (lambda: ArrayTask(np.ones((4, 3, 1)), np.ones(5)), ValueError, "5"),
        (lambda: ArrayTask(np.full((4, 3, 1), np.nan), np.ones(4)), ValueError, "non-finite"),
        (lambda: ArrayTask(np.ones((4, 3, 1), np.int64), np.ones(4)), TypeError, "floating-point"),
        (lambda: ArrayTask(np.ones((0, 3, 1)), np.ones(0)), ValueError, "empty"),
        (lambda: ArrayTask(np.ones((4, 3, 1)), np.array([0, 1, 2, 1]), loss="bce"), ValueError, r"\[0, 1\]"),
        (lambda: ArrayTask(np.ones((4, 3, 1)), np.ones(4), loss="ce"), TypeError, "integer class labels"),
        (lambda: ArrayTask(np.ones((4, 3, 1)), np.ones(4), loss="hinge"), ValueError, "loss='hinge'"),
        (lambda: ArrayTask(np.ones((4, 3, 1)), np.ones(4), lengths=[1, 2, 3, 4]), ValueError, "lengths"),
        (lambda: ArrayTask(np.ones((4, 3, 1)), np.ones(4), validation_split=1.0), ValueError, "validation_split"),
    ],
)
def test_bad_task_options(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_temporal_order_marks_sit_in_their_windows_and_name_the_class():
    """Pascanu et al.'s tempOrder.py: A/B at [L/10, 2L/10) and [5L/10, 6L/10), distractors elsewhere,
    class first + 2·second, each sequence at its own length."""
    task = tasks.get("temporal_order", seq_len=80, min_len=30)
    batch = task.sample(jax.random.key(3), 64)
    x, lengths, y = np.asarray(batch.inputs), np.asarray(batch.lengths), np.asarray(batch.targets)
    assert x.shape == (64, 80, 6) and 30 <= lengths.min() and lengths.max() <= 80
    for seq, n, target in zip(x, lengths, y):
        assert np.all(seq[:n].sum(-1) == 1) and np.all(seq[n:] == 0)
        symbols = seq[:n].argmax(-1)
        (marks,) = np.where(symbols < 2)
        assert len(marks) == 2
        assert n // 10 <= marks[0] < 2 * (n // 10) and n // 2 <= marks[1] < n // 2 + n // 10
        assert target == symbols[marks[0]] + 2 * symbols[marks[1]]
    assert sorted(set(y.tolist())) == [0, 1, 2, 3]
    assert task.baseline_loss == pytest.approx(np.log(4))


def test_linear_system_is_its_teacher_and_its_baseline_is_the_memoryless_loss():
    """Targets equal the teacher's recurrence run in float64; every eigenvalue modulus lies
    in [ν₀, 1); the baseline equals the loss of the best predictor k x_t on many sequences."""
    task = tasks.get("linear_system", seq_len=40, min_nu=0.8, hidden=6, eval_size=4000)
    s = task.system
    moduli = np.abs(np.linalg.eigvals(s["A"]))
    assert moduli.min() >= 0.8 - 1e-9 and moduli.max() < 1.0
    batch = task.sample(KEY, 3)
    x = np.asarray(batch.inputs, np.float64)
    h, ys = np.zeros((3, 6)), []
    for t in range(40):
        h = h @ s["A"].T + x[:, t] @ s["B"].T
        ys.append(h @ s["C"].T + x[:, t] @ s["D"].T)
    np.testing.assert_allclose(batch.targets, np.stack(ys, 1), rtol=1e-4, atol=1e-5)
    held_out = task.eval_batch()
    k = float((s["C"] @ s["B"] + s["D"])[0, 0])
    residual = np.asarray(held_out.targets, np.float64) - k * np.asarray(held_out.inputs, np.float64)
    assert task.baseline_loss == pytest.approx(float(np.mean(residual**2)), rel=0.03)  # 4000 sequences: ~1% error
    # the teacher is fixed by its seed alone, and another seed is another teacher
    np.testing.assert_array_equal(tasks.get("linear_system", seq_len=40, min_nu=0.8, hidden=6).system["A"], s["A"])
    assert not np.allclose(tasks.get("linear_system", min_nu=0.8, hidden=6, teacher_seed=1).system["A"], s["A"])


def test_first_input_holds_the_sign_at_the_first_step_only_and_its_target():
    task = tasks.get("first_input", seq_len=12, noise=0.5, noise_channels=3)
    batch = task.sample(KEY, 400)
    x, y = np.asarray(batch.inputs), np.asarray(batch.targets)
    assert x.shape == (400, 12, 4) and y.shape == (400, 1) and task.input_size == 4
    np.testing.assert_array_equal(np.abs(x[:, 0, 0]), 1.0)
    np.testing.assert_array_equal(x[:, 1:, 0], 0.0)
    np.testing.assert_array_equal(y[:, 0], (x[:, 0, 0] > 0).astype(np.float32))
    assert 0.4 < y.mean() < 0.6 and abs(x[..., 1:].std() - 0.5) < 0.02
    assert task.baseline_loss == pytest.approx(np.log(2.0))


def test_echo_recalls_each_cue_exactly_delay_steps_later():
    task = tasks.get("echo", seq_len=20, delay=4)
    batch = task.sample(KEY, 300)
    x, y = np.asarray(batch.inputs[..., 0]), np.asarray(batch.targets[..., 0])
    mask = np.asarray(task.step_mask(batch))
    cues = np.arange(20) % 5 == 0  # every delay + 1 steps
    np.testing.assert_array_equal(np.abs(x[:, cues]), 1.0)
    np.testing.assert_array_equal(x[:, ~cues], 0.0)
    recalls = np.flatnonzero(mask[0])
    np.testing.assert_array_equal(recalls, [4, 9, 14, 19])  # each cue's step + delay, the step before the next cue
    np.testing.assert_array_equal(y[:, recalls], (x[:, recalls - 4] > 0).astype(np.float32))
    assert 0.4 < y[:, recalls].mean() < 0.6 and task.baseline_loss == pytest.approx(np.log(2.0))
    with pytest.raises(ValueError, match="delay=20: it must be below seq_len=20"):
        tasks.get("echo", seq_len=20, delay=20)
