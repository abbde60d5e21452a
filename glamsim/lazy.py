"""Names of a package imported on first use, so that importing the package loads only what is used."""

from __future__ import annotations

import importlib


def lazy_names(package: str, names: dict[str, str]):
    """(`__getattr__`, `__dir__`) for `package`: each name in `names` (name -> module) is imported from
    its module when first read, then kept in the package's namespace."""
    space = importlib.import_module(package).__dict__

    def __getattr__(name: str):
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        space[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(space) | set(names))

    return __getattr__, __dir__
