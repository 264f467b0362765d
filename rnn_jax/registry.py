"""A name -> factory registry, shared by cells and tasks (``cells.get``, ``tasks.get``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to factories of keyword options returning a ``kind`` (a cell, a task).

    Args:
        kind: what the registry holds, for messages (``"cell"``).
        instance_type: instances of this type given to :meth:`get` are returned as they are.
    """

    def __init__(self, kind: str, instance_type: type):
        self.kind = kind
        self.instance_type = instance_type
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, name: str, factory: Callable[..., T], *, overwrite: bool = False) -> None:
        """Makes ``get(name, **options)`` call ``factory(**options)``.

        Args:
            name: the registry key.
            factory: a function of keyword options returning the registered kind.
            overwrite: allow replacing an existing name (default refuses).
        """
        if not isinstance(name, str) or not name:
            raise TypeError(f"name={name!r} must be a non-empty str")
        if not callable(factory):
            raise TypeError(f"factory for {name!r} must be callable, got {type(factory).__name__}")
        if name in self._factories and not overwrite:
            raise ValueError(f"a {self.kind} named {name!r} is already registered; pass overwrite=True to replace it")
        self._factories[name] = factory

    def unregister(self, name: str) -> None:
        """Removes ``name`` (a ``KeyError`` if it is not registered)."""
        del self._factories[name]

    def get(self, name: Any, **options: Any) -> T:
        """The ``kind`` registered as ``name``, made with ``options``; an instance is returned as is.

        Raises:
            ValueError: unknown name.
            TypeError: options with an instance, or an option the factory does not take.
        """
        if isinstance(name, self.instance_type):
            if options:
                raise TypeError(f"options cannot be given together with a {self.kind} instance")
            return name
        if not isinstance(name, str) or name not in self._factories:
            raise ValueError(f"{self.kind}={name!r} is not a registered {self.kind}; available: {', '.join(self.available())}")
        try:
            return self._factories[name](**options)
        except TypeError as error:
            if "unexpected keyword argument" in str(error):
                raise TypeError(f"{self.kind} {name!r}: {error}") from None
            raise

    def factory(self, name: str) -> Callable[..., T] | None:
        """The factory registered as ``name`` now (``None`` if none is): a new registration
        under the same name is a different object."""
        return self._factories.get(name)

    def available(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._factories)
