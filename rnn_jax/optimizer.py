"""The optimiser of a run, spelt in optax: ``Optax(factory, *args, **kwargs)``.

A run's optimiser is optax's own, written as the call that builds it, so that a run
directory can name it and a sweep can change its numbers without compiling again::

    Optax("adamw", learning_rate=3e-3)
    Optax("chain", Optax("clip_by_global_norm", max_norm=1.0),
          Optax("adamw", learning_rate=Optax("warmup_cosine_decay_schedule", init_value=0.0,
                                             peak_value=3e-3, warmup_steps=100, decay_steps=2000)))
    Optax(optax.lion, learning_rate=1e-4)          # the function itself, from optax

``factory`` is a name in optax (``"adamw"``, ``"optax.contrib.prodigy"``), one rnn_jax
registers (``"rnn_jax.optimizer.label_by_name"``), or one the user registered
(:func:`register`), or such a function itself. A whole ``optax.GradientTransformation`` built in code trains too, but a
run directory cannot name it, so such a run does not resume.

**Injected hyperparameters.** Every float written as a keyword argument of a node that
builds a ``GradientTransformation`` goes through ``optax.inject_hyperparams`` (its other
arguments static): it lives in the optimiser state as an array, so a runner can give every
seed its own value (a sweep) in one compiled program, and a re-fit with another value
compiles nothing. What is left at optax's default stays optax's constant. A schedule's
arguments are part of the program; to sweep a scheduled rate, scale the schedule's shape
by an injected rate (``scale_by_schedule`` then ``scale_by_learning_rate``).

Each injected value has a path: the node's place in the tree, then the argument's name
(``"1.learning_rate"`` is the learning rate of the chain's second element). A sweep may use
the argument's name alone when only one node has it (``"learning_rate"``).

**Names read from files are resolved only here**: a ``config.json`` that names ``os.system``
is refused in one line. A name resolves to a public function of optax's own modules or to a
registered one; nothing else is imported or called.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import importlib
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import jax
import optax

OPTAX_KEY = "__optax__"
UNNAMED_KEY = "__transformation__"
_NAMESPACES = ("optax", "optax.contrib", "optax.schedules", "optax.transforms", "optax.losses", "optax.projections")
_REGISTRY: dict[str, Callable] = {}


def register(factory: Callable, name: str | None = None) -> Callable:
    """Lets ``Optax(name, ...)`` (and a stored ``config.json``) build with ``factory``, a
    function that returns an optax ``GradientTransformation``, a schedule or a part of one.

    Args:
        factory: the function.
        name: what runs call it (default: ``module.qualname``). Registering another function
            under a name in use replaces it (a notebook cell run twice).

    Returns:
        ``factory``, so that ``register`` serves as a decorator.
    """
    if not callable(factory):
        raise TypeError(f"register(factory={factory!r}): expected a function that builds an optax transformation")
    name = _default_name(factory) if name is None else name
    if not isinstance(name, str) or not name:
        raise ValueError(f"register(name={name!r}): expected a non-empty string")
    _REGISTRY[name] = factory
    return factory


def _default_name(factory: Callable) -> str:
    return f"{getattr(factory, '__module__', '?')}.{getattr(factory, '__qualname__', repr(factory))}"


def _lookup(dotted: str) -> Any:
    """The public function ``dotted`` (``"optax.contrib.prodigy"``) of one of optax's
    namespaces, defined in optax itself, else ``None``."""
    module_name, _, attribute = dotted.rpartition(".")
    if module_name not in _NAMESPACES or attribute.startswith("_"):
        return None
    found = getattr(importlib.import_module(module_name), attribute, None)
    defined_in = getattr(found, "__module__", None) or ""
    return found if callable(found) and defined_in.split(".")[0] == "optax" else None


def resolve(name: str) -> Callable:
    """The factory a name stands for: registered names first, then ``optax.NAME`` for a bare
    name, then a dotted name in one of optax's namespaces. Anything else is refused."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"optimizer factory {name!r}: expected an optax name such as 'adamw'")
    if name in _REGISTRY:
        return _REGISTRY[name]
    found = _lookup(name if "." in name else f"optax.{name}")
    if found is None:
        raise ValueError(f"optimizer factory {name!r} is not optax's nor registered "
                         "(rnn_jax.optimizer.register); nothing else is imported or called")
    return found


def name_of(factory: Callable) -> str:
    """The name under which ``factory`` resolves back to itself (``optax.adamw`` -> ``"adamw"``)."""
    for name, registered in _REGISTRY.items():
        if registered is factory:
            return name
    short = getattr(factory, "__name__", None)
    if short:
        for namespace in _NAMESPACES:
            if _lookup(f"{namespace}.{short}") is factory:
                return short if namespace == "optax" else f"{namespace}.{short}"
    raise ValueError(f"optimizer factory {_default_name(factory)} is not optax's nor registered: register it "
                     "with rnn_jax.optimizer.register(fn) so that a run directory can name it")


def _freeze(value: Any, where: str) -> Any:
    """``value`` as a hashable, JSON-able argument: numbers, strings, None, tuples, sorted
    ``(key, value)`` tuples for a dict (kept apart by :class:`_Dict`), or nested :class:`Optax`."""
    if isinstance(value, Optax) or value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v, f"{where}[{i}]") for i, v in enumerate(value))
    if isinstance(value, Mapping):
        return _Dict(tuple((str(k), _freeze(v, f"{where}[{k!r}]")) for k, v in sorted(value.items())))
    if hasattr(value, "item") and getattr(value, "shape", None) == ():  # numpy or JAX scalars
        return value.item()
    if isinstance(value, optax.GradientTransformation) or callable(value):
        raise TypeError(f"{where}={value!r}: an argument of Optax(...) is itself spelt Optax(...), so that a run "
                        "directory can name it; pass a built transformation as the whole optimizer instead")
    raise TypeError(f"{where}={value!r}: expected a number, string, bool, None, tuple, dict or Optax(...)")


@dataclasses.dataclass(frozen=True)
class _Dict:
    """A dict argument, frozen (``optax.partition``'s ``transforms``)."""

    items: tuple[tuple[str, Any], ...]


@dataclasses.dataclass(frozen=True, init=False)
class Optax:
    """An optax factory and its arguments: ``Optax("adamw", learning_rate=3e-3)``.

    Attributes:
        factory: the factory's name (:func:`resolve`); given a function, its name (:func:`name_of`).
        args: positional arguments (``optax.chain``'s transformations).
        kwargs: keyword arguments, sorted ``(name, value)`` pairs. Values are numbers,
            strings, bools, ``None``, tuples, dicts or nested ``Optax`` nodes.
    """

    factory: str
    args: tuple[Any, ...]
    kwargs: tuple[tuple[str, Any], ...]

    def __init__(self, factory: str | Callable, /, *args: Any, **kwargs: Any):
        name = factory if isinstance(factory, str) else name_of(factory)
        resolve(name)  # refuses what cannot be built, before anything else
        object.__setattr__(self, "factory", name)
        object.__setattr__(self, "args", tuple(_freeze(a, f"Optax({name!r}) args[{i}]") for i, a in enumerate(args)))
        object.__setattr__(self, "kwargs", tuple(
            (k, _freeze(v, f"Optax({name!r}).{k}")) for k, v in sorted(kwargs.items())))
        self.injected  # refuses arguments the factory does not take  # noqa: B018

    def __repr__(self) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs]
        return f"Optax({', '.join([repr(self.factory), *parts])})"

    @functools.cached_property
    def injected(self) -> tuple[str, ...]:
        """The keyword arguments given as floats, which ``optax.inject_hyperparams`` injects
        when the factory builds a ``GradientTransformation`` (empty for a schedule)."""
        fn = resolve(self.factory)
        try:
            signature = inspect.signature(fn)
        except (TypeError, ValueError):
            return ()
        try:
            signature.bind(*self.args, **dict(self.kwargs))
        except TypeError as error:
            raise ValueError(f"Optax({self.factory!r}): {error} (its arguments: "
                             f"{', '.join(signature.parameters)})") from None
        named = {p.name for p in signature.parameters.values() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        floats = tuple(k for k, v in self.kwargs if k in named and isinstance(v, float))
        if floats and not isinstance(self._plain(), optax.GradientTransformation):
            return ()
        return floats

    def _plain(self):
        return resolve(self.factory)(*(build(a) for a in self.args), **{k: build(v) for k, v in self.kwargs})

    def to_dict(self) -> dict[str, Any]:
        """The JSON form that ``config.json`` stores (:func:`from_dict` reads it back)."""
        return {OPTAX_KEY: self.factory, "args": [_to_json(a) for a in self.args],
                "kwargs": {k: _to_json(v) for k, v in self.kwargs}}


def _to_json(value: Any) -> Any:
    if isinstance(value, Optax):
        return value.to_dict()
    if isinstance(value, _Dict):
        return {k: _to_json(v) for k, v in value.items}
    if isinstance(value, tuple):
        return [_to_json(v) for v in value]
    return value


def from_dict(data: Any) -> Any:
    """The :class:`Optax` tree of :meth:`Optax.to_dict`. Names resolve only to optax's public
    functions and registered ones (:func:`resolve`): ``{"__optax__": "os.system", ...}`` is
    refused."""
    if isinstance(data, Mapping):
        if OPTAX_KEY in data:
            return Optax(data[OPTAX_KEY], *(from_dict(a) for a in data.get("args", ())),
                         **{k: from_dict(v) for k, v in data.get("kwargs", {}).items()})
        if UNNAMED_KEY in data:
            raise ValueError("the stored optimizer was a GradientTransformation built in code, which config.json "
                             "cannot name; spell it as Optax(...) to make a run that can be rebuilt")
        return {k: from_dict(v) for k, v in data.items()}
    if isinstance(data, list):
        return tuple(from_dict(v) for v in data)
    return data


def _nodes(spec: Any, path: tuple[str, ...] = ()):
    """``(path, node)`` for every :class:`Optax` node in ``spec``, depth first."""
    if isinstance(spec, Optax):
        yield path, spec
        for i, a in enumerate(spec.args):
            yield from _nodes(a, path + (str(i),))
        for k, v in spec.kwargs:
            yield from _nodes(v, path + (k,))
    elif isinstance(spec, _Dict):
        for k, v in spec.items:
            yield from _nodes(v, path + (k,))
    elif isinstance(spec, tuple):
        for i, v in enumerate(spec):
            yield from _nodes(v, path + (str(i),))


def hyperparameters(spec: Any) -> dict[str, float]:
    """Every injected value of ``spec`` by its path (``{"1.learning_rate": 3e-3}``); none
    for a ``GradientTransformation`` object."""
    return {".".join(path + (k,)): dict(node.kwargs)[k] for path, node in _nodes(spec) for k in node.injected}


def address(spec: Any, key: str) -> str:
    """The path of the injected value that ``key`` names: a path, or an argument name that
    only one node has. Refuses, in one line, a key that names none or several."""
    paths = list(hyperparameters(spec))
    if key in paths:
        return key
    matches = [p for p in paths if p.rpartition(".")[2] == key]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ValueError(f"sweep key {key!r} is the argument of several optimizer nodes ({', '.join(matches)}); "
                         "name one by its path")
    where = (f"its injected arguments: {', '.join(paths)}" if paths else
             "it has none" + ("" if isinstance(spec, Optax) else " (a built GradientTransformation)"))
    raise ValueError(f"sweep key {key!r} is not a float argument written in the optimizer ({where}); write the "
                     "argument in Optax(...) to sweep it")


def with_values(spec: Any, values: Mapping[str, Any]) -> Any:
    """``spec`` with the injected values at ``values``' paths replaced (for a program's
    identity, a fixed value)."""
    if not isinstance(spec, Optax):
        return spec
    return _replace(spec, (), dict(values))


def _replace(node: Any, path: tuple[str, ...], values: dict[str, Any]) -> Any:
    if isinstance(node, Optax):
        args = tuple(_replace(a, path + (str(i),), values) for i, a in enumerate(node.args))
        kwargs = {}
        for k, v in node.kwargs:
            full = ".".join(path + (k,))
            kwargs[k] = values[full] if full in values and k in node.injected else _replace(v, path + (k,), values)
        return Optax(node.factory, *args, **kwargs)
    if isinstance(node, _Dict):
        return {k: _replace(v, path + (k,), values) for k, v in node.items}
    if isinstance(node, tuple):
        return tuple(_replace(v, path + (str(i),), values) for i, v in enumerate(node))
    return node


def build(spec: Any, values: Mapping[str, Any] | None = None, path: tuple[str, ...] = ()) -> Any:
    """The optax object ``spec`` stands for, the injected arguments read from ``values``
    (arrays, traced or not) where given. A ``GradientTransformation`` is returned as it is."""
    values = {} if values is None else values
    if isinstance(spec, optax.GradientTransformation):
        return spec
    if isinstance(spec, Optax):
        fn = resolve(spec.factory)
        args = [build(a, values, path + (str(i),)) for i, a in enumerate(spec.args)]
        kwargs = {k: build(v, values, path + (k,)) for k, v in spec.kwargs}
        if not spec.injected:
            return fn(*args, **kwargs)
        for k in spec.injected:
            kwargs[k] = values.get(".".join(path + (k,)), kwargs[k])
        static = [p for p in inspect.signature(fn).parameters if p not in spec.injected]
        return optax.inject_hyperparams(fn, static_args=static)(*args, **kwargs)
    if isinstance(spec, _Dict):
        return {k: build(v, values, path + (k,)) for k, v in spec.items}
    if isinstance(spec, tuple):
        return tuple(build(v, values, path + (str(i),)) for i, v in enumerate(spec))
    return spec


def check(optimizer: Any, name: str = "optimizer") -> Any:
    """``optimizer`` if it is an :class:`Optax` tree that builds a ``GradientTransformation``,
    or such a transformation; else a one-line ``TypeError``."""
    if isinstance(optimizer, optax.GradientTransformation):
        return optimizer
    if not isinstance(optimizer, Optax):
        raise TypeError(f"{name} must be Optax(...) (an optax factory and its arguments) or an "
                        f"optax.GradientTransformation, got {type(optimizer).__name__}")
    built = build(optimizer)
    if not isinstance(built, optax.GradientTransformation):
        raise TypeError(f"{name}={optimizer!r} builds a {type(built).__name__}, not an optax.GradientTransformation "
                        "(a schedule is the learning_rate of an optimizer)")
    return optimizer


def describe(optimizer: Any) -> str:
    """A short name for tables and TensorBoard: the factories nested as called
    (``"chain(clip_by_global_norm, adamw(warmup_cosine_decay_schedule))"``)."""
    if not isinstance(optimizer, Optax):
        return "GradientTransformation"
    inner = [describe(v) for v in (*optimizer.args, *(v for _, v in optimizer.kwargs)) if isinstance(v, Optax)]
    return optimizer.factory + (f"({', '.join(inner)})" if inner else "")


def to_json(optimizer: Any) -> dict[str, Any]:
    """What ``config.json`` records of a run's optimizer."""
    if isinstance(optimizer, Optax):
        return optimizer.to_dict()
    return {UNNAMED_KEY: "a GradientTransformation built in code; a run directory cannot name it"}


def label_by_name(groups: tuple[tuple[str, str], ...] | Mapping[str, str], default: str = "rest") -> Callable:
    """``param_labels`` for ``optax.partition``: each parameter's label is that of the first
    ``(pattern, label)`` whose ``fnmatch`` pattern matches its name (its last key, ``"a"``) or
    its path (``"layers/0/fwd/a"``), else ``default``.

    References:
        expRNN (Lezcano-Casado & Martínez-Rubio 2019) trains the skew parameter ``A`` at a
        tenth of the others' rate: ``Optax("partition", transforms={"a": ..., "rest": ...},
        param_labels=Optax("rnn_jax.optimizer.label_by_name", groups={"a": "a"}))``.
    """
    pairs = tuple(groups.items()) if isinstance(groups, Mapping) else tuple(groups)

    def labels(params):
        def label(path, _):
            name = "/".join(str(getattr(k, "key", getattr(k, "idx", getattr(k, "name", k)))) for k in path)
            for pattern, group in pairs:
                if fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(name.rsplit("/", 1)[-1], pattern):
                    return group
            return default

        return jax.tree_util.tree_map_with_path(label, params)

    return labels


register(label_by_name, "rnn_jax.optimizer.label_by_name")

DEFAULT = Optax("chain", Optax("clip_by_global_norm", max_norm=1.0), Optax("adam", learning_rate=1e-3))
"""Adam at 1e-3 after global-norm clipping at 1 (Pascanu et al. 2013's threshold)."""
