"""Every registered cell's options on the command line, one group per cell, generated from
the cell factories' own keyword arguments: ``--lem.dt 0.0242``, ``--cornn.gamma 1.3``,
``--indrnn.recurrent-init near_one``, ``--lstm.forget-bias 1``.

A cell whose factory takes initialisation options (``**init_options``: rnn, irnn, lstm,
gru) also gets those (:data:`rnn_jax.cells.initializers.OPTIONS`), typed as the cell reads
them. Every option defaults to ``None``, "not given": the cell's own default applies, and
the help text says what it is.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from typing import Annotated, Any

from rnn_jax import cells
from rnn_jax.cells import base, initializers


def _init_option_types() -> dict[str, Any]:
    hints = typing.get_type_hints(initializers.InitSpec)
    types = {name: hints.get(name, Any) for name in sorted(initializers.OPTIONS - {"dtype"})}
    types["init"] = initializers.Preset
    return {name: float if t is Any else t for name, t in types.items()}


def _group(name: str, factory) -> type:
    """A frozen dataclass of ``factory``'s options, each ``T | None = None``."""
    import tyro

    hints = typing.get_type_hints(factory)
    fields = []
    for p in inspect.signature(factory).parameters.values():
        if p.kind is p.KEYWORD_ONLY and p.name in hints:
            help_text = f"the cell's default: {getattr(p.default, 'value', p.default)}"
            fields.append((p.name, hints[p.name], help_text))
        elif p.kind is p.VAR_KEYWORD:
            fields += [(o, t, "an initialisation option (rnn_jax.cells.initializers)")
                       for o, t in _init_option_types().items()]
    return dataclasses.make_dataclass(name, [
        (option, Annotated[kind | None, tyro.conf.arg(help=help_text)], dataclasses.field(default=None))
        for option, kind, help_text in fields], frozen=True)


@functools.cache
def options_type() -> type:
    """The dataclass with one field per registered cell (as registered when first asked)."""
    groups = {name: _group(name, base.REGISTRY.factory(name)) for name in cells.available()}
    return dataclasses.make_dataclass("CellOptions", [
        (name, group, dataclasses.field(default=group())) for name, group in groups.items()], frozen=True)


def given(options: Any, cell: str) -> dict[str, Any]:
    """The options given for ``cell`` in ``options`` (an :func:`options_type` instance)."""
    group = getattr(options, cell, None)
    if group is None:
        return {}
    return {f.name: getattr(group, f.name) for f in dataclasses.fields(group) if getattr(group, f.name) is not None}


def of(**per_cell: dict[str, Any]) -> Any:
    """An :func:`options_type` instance, for code: ``of(lem={"dt": 0.0242})``."""
    kind = options_type()
    groups = {f.name: f.type for f in dataclasses.fields(kind)}
    unknown = sorted(set(per_cell) - set(groups))
    if unknown:
        raise ValueError(f"cell options for {', '.join(unknown)}: expected registered cells ({', '.join(groups)})")
    return kind(**{cell: groups[cell](**values) for cell, values in per_cell.items()})
