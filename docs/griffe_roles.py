"""A griffe extension for the API reference: the Sphinx roles our docstrings use
(``:class:`~rnn_jax.cells.Cell```, ``:func:`unroll```, ``:mod:`.results```, ``:meth:``,
``:data:``, ``:attr:``) become mkdocstrings cross-references. A target is looked up as
written, then relative to the object, its module and its package, as Sphinx would; one
that is found nowhere is shown as code. Links go where the target is defined."""

from __future__ import annotations

import re

import griffe

ROLE = re.compile(r":(?:class|func|mod|meth|data|attr|obj|exc):`(~?)([\w.]+?)(?:\(\))?`")


def _canonical(obj: griffe.Object, path: str) -> str | None:
    """The path where ``path`` is defined (an imported name resolves to its origin), or ``None``."""
    try:
        return obj.modules_collection.get_member(path).canonical_path
    except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None


def _candidates(obj: griffe.Object, target: str) -> list[str]:
    name = target.lstrip(".")
    module = obj if obj.is_module else obj.module
    package = module.path if module.is_init_module else module.path.rsplit(".", 1)[0]
    return [target, f"{obj.path}.{name}", f"{module.path}.{name}", f"{package}.{name}", f"rnn_jax.{name}"]


class SphinxRoles(griffe.Extension):
    """Rewrites the roles in every docstring once the object tree is complete."""

    def on_object(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is None:
            return

        def replace(match: re.Match) -> str:
            short, target = match.group(1), match.group(2)
            shown = target.rsplit(".", 1)[-1] if short or target.startswith(".") else target
            for path in _candidates(obj, target):
                found = None if path.startswith(".") else _canonical(obj, path)
                if found is not None:
                    return f"[`{shown}`][{found}]"
            return f"`{shown}`"

        obj.docstring.value = ROLE.sub(replace, obj.docstring.value)
