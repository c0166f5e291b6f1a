"""Names of a package that load on first use (PEP 562).

A package lists each public name with the module that defines it; importing the package
then costs nothing until a name is used, so a command that needs one helper does not pay
for the bulk path's pyarrow and NumPy, for Alembic or for DuckDB (DESIGN.md §5: a look-up
from the command line starts in well under a second).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_names"]


def lazy_names(
    package: str, namespace: dict[str, Any], homes: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``: each name in ``homes`` is
    imported from its module when first asked for, then kept in ``namespace``."""

    def __getattr__(name: str) -> Any:
        try:
            home = homes[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(home), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *homes})

    return __getattr__, __dir__
