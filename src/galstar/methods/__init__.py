"""The published methods galstar implements, one module each, and their registry.

A method module holds what is specific to one paper: its labels and selection, which
inputs its experiments read, how its models are built, and its tables and figures. The
stage packages stay generic and never import this package.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["METHODS", "get_method"]

#: Config ``methods:`` names -> module (imported lazily: keras-free at parse time).
METHODS: dict[str, str] = {
    "galeffnet": "galstar.methods.galeffnet",
    "sigma_sfr": "galstar.methods.sigma_sfr",
    "stellar": "galstar.methods.stellar",
    "multimodal": "galstar.methods.multimodal",
    "spectra_from_images": "galstar.methods.spectra_from_images",
}


def get_method(name: str) -> ModuleType:
    """The module of method ``name`` (a clear error naming the known methods)."""
    try:
        return importlib.import_module(METHODS[name])
    except KeyError:
        raise ValueError(f"config methods: unknown method '{name}'; known: "
                         f"{sorted(METHODS)}") from None
