"""The notebook loop against PyTorch: fit, change the learning rate, fit again, change the
hidden size, fit again; then a runner sweep and the same sweep with new values.

Each contender runs as a whole fresh process (imports included, as a notebook kernel starts),
the contenders alternating, and the medians over repeats are compared. Ours runs twice per
repeat with one compile-cache directory: first empty (*cold*), then with what the first
process left (*warm*: the same script again in a new process).

- fits: an LSTM on the adding problem, T = 50, h = 32 (then 64), 300 steps, batch 32, Adam
  with global-norm clipping at 1, held-out loss every 100 steps;
- sweep: ``runner.run`` of 4 seeds x 2 learning rates, then 2 other learning rates (torch:
  the same 8 runs one after another, twice).

    python -m benchmarks.interactive [--quick] [--repeats N] [--json PATH]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from benchmarks import _harness

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

OURS_SCRIPT = r"""
import json, sys, time
start = time.perf_counter()
""" + _harness.COMPILE_STAGES + r"""
from benchmarks._harness import program_delta
from rnn_jax import tasks
from rnn_jax.runner import run
from rnn_jax import TrainConfig, fit, model_for
from rnn_jax.optimizer import Optax

STEPS, SEEDS = int(sys.argv[1]), int(sys.argv[2])
task = tasks.get("adding", seq_len=50)
def adam(lr):  # Adam after global-norm clipping at 1, as the PyTorch loop
    return Optax("chain", Optax("clip_by_global_norm", max_norm=1.0), Optax("adam", learning_rate=lr))
def cfg(lr):
    return TrainConfig(steps=STEPS, batch_size=32, eval_every=STEPS // 3, optimizer=adam(lr))
times = {"import": time.perf_counter() - start}
for name, hidden, lr in (("fit", 32, 3e-3), ("refit_lr", 32, 1e-2), ("fit_hidden", 64, 1e-2)):
    t, before, before_programs = time.perf_counter(), dict(seconds), json.loads(json.dumps(by_program))
    _, history = fit(model_for(task, "lstm", hidden), task, cfg(lr))
    times[name] = time.perf_counter() - t
    times.update({f"{name}_{stage}": seconds[stage] - before[stage] for stage in ("trace_s", "lower_s", "backend_s",
                                                                                  "programs")})
    times[f"{name}_by_program"] = program_delta(by_program, before_programs)
for name, lrs in (("sweep", [1e-3, 3e-3]), ("resweep", [2e-3, 5e-3])):
    t, before_programs = time.perf_counter(), json.loads(json.dumps(by_program))
    run(TrainConfig(model=model_for(task, "lstm", 32), task=task, steps=STEPS, batch_size=32, eval_every=STEPS // 3,
                    optimizer=adam(3e-3)), seeds=SEEDS, sweep={"learning_rate": lrs},
        progress=False, diagnose_at=[])
    times[name] = time.perf_counter() - t
    times[f"{name}_by_program"] = program_delta(by_program, before_programs)
times["total"] = time.perf_counter() - start
print(json.dumps(times))
"""

TORCH_SCRIPT = r"""
import json, sys, time
start = time.perf_counter()
import torch

STEPS, SEEDS = int(sys.argv[1]), int(sys.argv[2])
T = 50
torch.set_num_threads(2)

""" + _harness.TORCH_ADDING_BATCH + r"""
class Model(torch.nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.rnn = torch.nn.LSTM(2, hidden, batch_first=True)
        self.head = torch.nn.Linear(hidden, 1)

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])

eval_x, eval_y = adding_batch(1000, torch.Generator().manual_seed(0))

def fit(hidden, lr, seed):
    torch.manual_seed(seed)
    model = Model(hidden)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    data = torch.Generator().manual_seed(1000 + seed)
    losses = []
    for step in range(1, STEPS + 1):
        x, y = adding_batch(32, data)
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % (STEPS // 3) == 0:
            with torch.no_grad():
                losses.append(torch.nn.functional.mse_loss(model(eval_x), eval_y).item())
    return losses

times = {"import": time.perf_counter() - start}
for name, hidden, lr in (("fit", 32, 3e-3), ("refit_lr", 32, 1e-2), ("fit_hidden", 64, 1e-2)):
    t = time.perf_counter()
    fit(hidden, lr, 0)
    times[name] = time.perf_counter() - t
for name, lrs in (("sweep", [1e-3, 3e-3]), ("resweep", [2e-3, 5e-3])):
    t = time.perf_counter()
    for lr in lrs:
        for seed in range(SEEDS):
            fit(32, lr, seed)
    times[name] = time.perf_counter() - t
times["total"] = time.perf_counter() - start
print(json.dumps(times))
"""

PARTS = ("import", "fit", "refit_lr", "fit_hidden", "sweep", "resweep", "total")


def _process(script: str, args: list[str], env: dict[str, str]) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", script, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    args = _harness.parse(__doc__)
    steps, seeds = (60, 2) if args.quick else (300, 4)
    repeats = args.repeats or (1 if args.quick else 3)
    samples: dict[str, list[dict[str, float]]] = {"torch": [], "rnn_jax cold": [], "rnn_jax warm": []}
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, "RNN_JAX_COMPILE_CACHE": cache, "JAX_PLATFORMS": "cpu"}
            samples["torch"].append(_process(TORCH_SCRIPT, [str(steps), str(seeds)], env))
            samples["rnn_jax cold"].append(_process(OURS_SCRIPT, [str(steps), str(seeds)], env))
            samples["rnn_jax warm"].append(_process(OURS_SCRIPT, [str(steps), str(seeds)], env))
        print(json.dumps({k: {p: v[-1][p] for p in PARTS} for k, v in samples.items()}), flush=True)
        for contender in ("rnn_jax cold", "rnn_jax warm"):
            for part in ("fit", "refit_lr", "fit_hidden", "sweep", "resweep"):
                print(f"{contender}, {part}: {samples[contender][-1][part]:.2f} s; compiled:\n" +
                      _harness.program_lines(samples[contender][-1][f"{part}_by_program"], "    "), flush=True)
    medians = {k: {p: statistics.median(s[p] for s in v) for p in PARTS} for k, v in samples.items()}
    torch = medians["torch"]
    records = [{"contender": k, **{f"{p}_s": m[p] for p in PARTS}, **{f"{p}_vs_torch": m[p] / torch[p] for p in PARTS}}
               for k, m in medians.items()]
    # the same fit again in a new process, against PyTorch's first fit
    records[-1]["fit_vs_torch_first"] = medians["rnn_jax warm"]["fit"] / torch["fit"]
    for record, contender in zip(records[1:], ("rnn_jax cold", "rnn_jax warm")):  # where a fit's time goes
        for part in ("fit", "refit_lr", "fit_hidden"):
            for stage in ("trace_s", "lower_s", "backend_s", "programs"):
                record[f"{part}_{stage}"] = statistics.median(s[f"{part}_{stage}"] for s in samples[contender])
            print(f"{contender} {part}: {record[f'{part}_s']:.2f} s, of which trace {record[f'{part}_trace_s']:.2f}, "
                  f"lower {record[f'{part}_lower_s']:.2f}, XLA {record[f'{part}_backend_s']:.2f} s "
                  f"({record[f'{part}_programs']:.0f} programs compiled)")
    _harness.finish("interactive", args, records,
                    ["contender", *(f"{p}_s" for p in PARTS), *(f"{p}_vs_torch" for p in PARTS[1:])])


if __name__ == "__main__":
    main()
