"""The whole main job against what a PyTorch user would write instead.

The workload of ``python -m experiments.vanishing_gradients``: tanh RNN, LSTM and GRU on the
adding problem (T = 100, hidden 32, batch 32, Adam 3e-3, global-norm clipping 1, 1500
steps, held-out MSE on 1000 sequences every 100 steps), 8 seeds each, chrono
initialisation for the LSTM and GRU. Ours is the experiment itself, run as a user runs it
(``--torch-init-cells`` empty: the three cells only), in a fresh process with an empty
compilation cache (*cold*) and again with the cache it left (*warm*); it also records the
diagnostics and draws the figures. Ours prints the compile time of each program
(:data:`benchmarks._harness.EXPERIMENT_DRIVER`). PyTorch's is :data:`TORCH_SCRIPT` below: a plain loop
over ``torch.nn.RNN/LSTM/GRU``, one run after another, torch on both threads. Wall times
are of whole processes, imports included.

    python -m benchmarks.main_job [--quick] [--json PATH]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

from benchmarks import _harness

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TORCH_SCRIPT = r"""
import json, math, sys
import torch

T, H, BATCH, STEPS, EVAL_EVERY, SEEDS = (int(a) for a in sys.argv[1:7])
torch.set_num_threads(2)

""" + _harness.TORCH_ADDING_BATCH + r"""
class Model(torch.nn.Module):
    def __init__(self, kind):
        super().__init__()
        self.rnn = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](2, H, batch_first=True)
        self.head = torch.nn.Linear(H, 1)
        if kind != "rnn":  # chrono initialisation (Tallec & Ollivier 2018), T_max = T
            with torch.no_grad():
                b = torch.log(torch.empty(H).uniform_(1, T - 1))
                self.rnn.bias_hh_l0.zero_()
                if kind == "lstm":  # gates i, f, g, o
                    self.rnn.bias_ih_l0[H:2 * H] = b
                    self.rnn.bias_ih_l0[:H] = -b
                else:  # gates r, z, n; z keeps the old state
                    self.rnn.bias_ih_l0[H:2 * H] = b

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])

results = {}
for kind in ("rnn", "lstm", "gru"):
    finals = []
    for seed in range(SEEDS):
        torch.manual_seed(seed)
        model = Model(kind)
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        data = torch.Generator().manual_seed(1000 + seed)
        eval_x, eval_y = adding_batch(1000, torch.Generator().manual_seed(0))
        for step in range(1, STEPS + 1):
            x, y = adding_batch(BATCH, data)
            loss = torch.nn.functional.mse_loss(model(x), y)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            if step % EVAL_EVERY == 0:
                with torch.no_grad():
                    held_out = torch.nn.functional.mse_loss(model(eval_x), eval_y).item()
        finals.append(held_out)
    results[kind] = finals
print(json.dumps(results))
"""


def _timed(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, result.stdout


def main() -> None:
    args = _harness.parse(__doc__)
    steps, seeds = (100, 2) if args.quick else (1500, 8)
    shape = dict(T=100, H=32, BATCH=32, STEPS=steps, EVAL_EVERY=100, SEEDS=seeds)
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "RNN_JAX_COMPILE_CACHE": os.path.join(tmp, "cache"), "JAX_PLATFORMS": "cpu"}
        torch_s, out = _timed([sys.executable, "-c", TORCH_SCRIPT, *(str(v) for v in shape.values())], env)
        torch_mse = json.loads(out.strip().splitlines()[-1])
        records.append({"contender": "torch", "cache": "-", "wall_s": torch_s,
                        **{f"{k}_mse": sum(v) / len(v) for k, v in torch_mse.items()}})
        print(f"torch: {torch_s:.1f} s, mean final MSE {torch_mse}", flush=True)
        for cache in ("cold", "warm"):  # the warm run reads what the cold one wrote
            run_dir = os.path.join(tmp, f"runs_{cache}")
            ours_s, out = _timed([sys.executable, "-c", _harness.EXPERIMENT_DRIVER, "--torch-init-cells",
                                  "--seeds", str(seeds), "--steps", str(steps), "--run-dir", run_dir,
                                  "--no-progress"], env)
            compiling = json.loads(out.strip().splitlines()[-1])
            from rnn_jax.io import results

            table = results.summary(results.load(run_dir), "loss").set_index("run")["mean"]
            records.append({"contender": "rnn_jax", "cache": cache, "wall_s": ours_s,
                            **{f"{k}_mse": float(table[k]) for k in ("rnn", "lstm", "gru")}})
            print(f"rnn_jax ({cache} cache): {ours_s:.1f} s = {ours_s / torch_s:.2f}x torch, compiling "
                  f"{compiling['compile_s']:.1f} s ({compiling['programs']} programs):\n"
                  + _harness.program_lines(compiling["by_program"]), flush=True)
            records[-1].update({k: compiling[k] for k in ("compile_s", "backend_s", "programs")},
                               by_program=compiling["by_program"])
    for record in records:
        record["vs_torch"] = record["wall_s"] / torch_s
    _harness.finish("main_job", args, records, ["contender", "cache", "wall_s", "vs_torch", "compile_s", "programs",
                                                "rnn_mse", "lstm_mse", "gru_mse"])


if __name__ == "__main__":
    main()
