"""Exact weight transfer between Flax's built-in recurrent cells and ours.

Covers ``LSTMCell``, ``OptimizedLSTMCell``, ``GRUCell`` and ``SimpleCell`` of both
``flax.linen`` and ``flax.nnx`` (default gate and activation functions). Flax stores each
dense layer as ``kernel[in, out]`` (ours: ``w[out, in]``), in gate order ``i, f, g, o`` /
``r, z, n`` like ours, and puts the bias on one side only:

* LSTM: on the hidden-side dense layers (ours: the sum ``b_ih + b_hh`` is what matters);
* linen GRU: ``b_ir, b_iz, b_in`` on the input side and ``b_hn`` inside ``r * (W_hn h + b_hn)``
  (exactly our reset-after GRU); NNX ``GRUCell`` has no ``b_hn`` at all (flax#5594): read
  from it, our ``b_hn`` is zero; written to it, a nonzero ``b_hn`` is refused;
* SimpleCell: on the input side.

```python
kind, params = from_flax_params(linen.LSTMCell(32), variables["params"]["cell"])
final, hs = unroll(cells.get(kind), params, x)              # == linen.RNN(cell)(x)
flax_params = to_flax_params(params, linen.GRUCell(32))       # a linen param dict
to_flax_params(params, nnx_cell)                               # NNX: written into the module
```

flax is imported only by these functions. Flax's carry for an LSTM is ``(c, h)``; ours is
``(h, c)``.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

_GATES = {"lstm": "ifgo", "gru": "rzn"}


def _layout(cell: Any) -> tuple[str, str]:
    """``(our cell kind, flax API)`` of a Flax cell instance."""
    from flax import linen, nnx

    for api, module in (("linen", linen), ("nnx", nnx)):
        for name, kind in (("OptimizedLSTMCell", "lstm"), ("LSTMCell", "lstm"), ("GRUCell", "gru"), ("SimpleCell", "rnn")):
            if isinstance(cell, getattr(module, name)):
                return kind, f"{api}.{name}"
    raise TypeError(f"cell must be one of Flax's LSTMCell, OptimizedLSTMCell, GRUCell or SimpleCell (linen or nnx), "
                    f"got {type(cell).__name__}")


def _nnx_attribute(name: str) -> str:
    """nnx.LSTMCell's attribute for a linen dense name (``if`` is a keyword, so ``if_``)."""
    return name + "_" if name == "if" else name


def _nnx_dense(cell: Any, name: str) -> dict[str, Any]:
    linear = getattr(cell, name)
    out = {"kernel": linear.kernel[...]}
    if getattr(linear, "bias", None) is not None:
        out["bias"] = linear.bias[...]
    return out


def _flax_dense(cell: Any, api: str, params: Any) -> dict[str, dict[str, Any]]:
    """Every dense layer of the cell as ``{name: {"kernel", "bias"?}}`` in linen's names
    (``ii``..``ho``, ``ir``..``hn``, ``i``/``h``); NNX's fused layers are split per gate."""
    if api.startswith("linen"):
        if params is None:
            raise ValueError("params=None: a linen cell holds no weights; pass variables['params'] of the cell")
        return {k: dict(v) for k, v in params.items()}
    if params is not None:
        raise ValueError("params must be None for an nnx cell: its weights are read from the module")
    match api:
        case "nnx.LSTMCell":
            return {f"{side}{g}": _nnx_dense(cell, _nnx_attribute(f"{side}{g}")) for side in "ih" for g in "ifgo"}
        case "nnx.SimpleCell":
            return {"i": _nnx_dense(cell, "dense_i"), "h": _nnx_dense(cell, "dense_h")}
    gates = _GATES["lstm" if api == "nnx.OptimizedLSTMCell" else "gru"]
    out = {}
    for side in "ih":
        fused = _nnx_dense(cell, f"dense_{side}")
        for g, kernel, bias in zip(gates, np.split(np.asarray(fused["kernel"]), len(gates), axis=-1),
                                   np.split(np.asarray(fused["bias"]), len(gates)) if "bias" in fused else [None] * len(gates)):
            out[f"{side}{g}"] = {"kernel": kernel} if bias is None else {"kernel": kernel, "bias": bias}
    return out


def from_flax_params(cell: Any, params: Any = None) -> tuple[str, dict[str, Any]]:
    """A Flax cell's weights in our layout.

    Args:
        cell: a Flax ``LSTMCell``, ``OptimizedLSTMCell``, ``GRUCell`` or ``SimpleCell`` (linen
            or nnx).
        params: for a linen cell, its parameters (the cell's entry of ``variables["params"]``);
            ``None`` for an nnx cell (the module holds them).

    Returns:
        ``(kind, params)``: the registered cell name (``"lstm"``, ``"gru"``, ``"rnn"``) and its
        parameters, for ``cells.get(kind)``.
    """
    kind, api = _layout(cell)
    dense = _flax_dense(cell, api, params)
    w = lambda name: jnp.asarray(dense[name]["kernel"]).T  # noqa: E731
    b = lambda name: jnp.asarray(dense[name]["bias"]) if "bias" in dense[name] else None  # noqa: E731
    if kind == "rnn":
        return kind, {"w_ih": w("i"), "w_hh": w("h"), "b_ih": b("i")}
    gates = _GATES[kind]
    ours = {"w_ih": jnp.concatenate([w("i" + g) for g in gates]), "w_hh": jnp.concatenate([w("h" + g) for g in gates])}
    if kind == "lstm":  # the hidden-side biases are the whole bias
        ours["b_ih"] = jnp.concatenate([b("h" + g) for g in gates])
        return kind, ours
    zeros = jnp.zeros((ours["w_hh"].shape[-1],), ours["w_hh"].dtype)
    b_hn = b("hn")  # nnx's GRUCell has none
    ours["b_ih"] = jnp.concatenate([b("i" + g) for g in gates])
    ours["b_hh"] = jnp.concatenate([zeros, zeros, zeros if b_hn is None else b_hn])
    return kind, ours


def to_flax_params(params: dict[str, Any], cell: Any) -> dict[str, Any] | Any:
    """Our cell weights written in a Flax cell's layout.

    Args:
        params: our cell's parameters (``w_ih``, ``w_hh``, ``b_ih``, ``b_hh``; biases optional).
        cell: the Flax cell to match (see :func:`from_flax_params`).

    Returns:
        For a linen cell, its parameter dict (put it under the cell's name in
        ``variables["params"]``). For an nnx cell, the cell itself, with its weights replaced.

    Raises:
        ValueError: shapes that do not fit the cell, or a nonzero ``b_hn`` for nnx's
            ``GRUCell``, which has no place for it (flax#5594).
    """
    kind, api = _layout(cell)
    gates = _GATES.get(kind, "x")
    h = params["w_hh"].shape[-1]
    zeros = jnp.zeros((len(gates) * h,), params["w_hh"].dtype)
    b_ih, b_hh = params.get("b_ih", zeros), params.get("b_hh", zeros)
    if params["w_hh"].shape[0] != len(gates) * h:
        raise ValueError(f"params['w_hh'] has shape {tuple(params['w_hh'].shape)}; a {api} needs "
                         f"[{len(gates)} * h, h] ({kind} gates)")
    split = lambda a: jnp.split(jnp.asarray(a), len(gates), axis=0)  # noqa: E731
    w_i, w_h, bi, bh = split(params["w_ih"]), split(params["w_hh"]), split(b_ih), split(b_hh)
    dense: dict[str, dict[str, Any]] = {}
    if kind == "rnn":
        dense = {"i": {"kernel": w_i[0].T, "bias": bi[0] + bh[0]}, "h": {"kernel": w_h[0].T}}
    elif kind == "lstm":
        for g, wi, wh, b1, b2 in zip(gates, w_i, w_h, bi, bh):
            dense[f"i{g}"], dense[f"h{g}"] = {"kernel": wi.T}, {"kernel": wh.T, "bias": b1 + b2}
    else:  # gru: b_hr, b_hz fold into the input side; b_hn stays inside r * (...)
        if api == "nnx.GRUCell" and bool(jnp.any(bh[2] != 0)):
            raise ValueError("params['b_hh'] has a nonzero b_hn block, which flax.nnx.GRUCell cannot hold "
                             "(it has no hidden-side bias; flax#5594); use linen.GRUCell or zero b_hn")
        for g, wi, wh, b1, b2 in zip(gates, w_i, w_h, bi, bh):
            dense[f"i{g}"] = {"kernel": wi.T, "bias": b1 + (b2 if g != "n" else 0.0)}
            dense[f"h{g}"] = {"kernel": wh.T, **({"bias": b2} if g == "n" else {})}
    if api.startswith("linen"):
        return dense
    _write_nnx(cell, api, dense, gates)
    return cell


def _write_nnx(cell: Any, api: str, dense: dict[str, dict[str, Any]], gates: str) -> None:
    def put(name: str, kernel, bias=None) -> None:
        linear = getattr(cell, name)
        if linear.kernel[...].shape != kernel.shape:
            raise ValueError(f"{api}.{name}.kernel has shape {linear.kernel[...].shape}, the params give {kernel.shape}")
        linear.kernel[...] = kernel
        if bias is not None:
            linear.bias[...] = bias

    match api:
        case "nnx.LSTMCell":
            for name, layer in dense.items():
                put(_nnx_attribute(name), layer["kernel"], layer.get("bias"))
        case "nnx.SimpleCell":
            put("dense_i", dense["i"]["kernel"], dense["i"]["bias"])
            put("dense_h", dense["h"]["kernel"])
        case _:  # fused: OptimizedLSTMCell (bias on the hidden side), GRUCell (bias on the input side)
            for side in "ih":
                layers = [dense[f"{side}{g}"] for g in gates]
                fused_bias = None
                if all("bias" in layer for layer in layers):
                    fused_bias = jnp.concatenate([layer["bias"] for layer in layers])
                put(f"dense_{side}", jnp.concatenate([layer["kernel"] for layer in layers], axis=-1), fused_bias)
