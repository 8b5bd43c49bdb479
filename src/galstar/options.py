"""Unknown-key checks for the settings dataclasses that config mappings build.

Every ``from_mapping`` in the stage packages names an unknown key the same way, by its
full config path (``galaxies.sdss.spectra.smooth``), so that a typo is found at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import fields, is_dataclass
from typing import Any

__all__ = ["check_option_names", "init_field_names"]


def init_field_names(settings: type) -> set[str]:
    """The ``__init__`` field names of the dataclass ``settings``."""
    return {f.name for f in fields(settings) if f.init}


def check_option_names(opts: Mapping[str, Any] | None, settings: type | Iterable[str],
                       section: str) -> None:
    """Raise ``ValueError`` naming each key of ``opts`` that ``settings`` does not know.

    Parameters
    ----------
    opts : mapping or None
        The config mapping (None: nothing to check).
    settings : dataclass type or iterable of str
        The settings class (its ``__init__`` fields are the known keys) or the names.
    section : str
        The config path of ``opts`` (``mock.options``): the message names
        ``<section>.<key>`` for each unknown key and lists the known ones.
    """
    known = init_field_names(settings) if is_dataclass(settings) else set(settings)
    unknown = sorted(set(opts or {}) - known)
    if unknown:
        keys = ", ".join(f"{section}.{k}" for k in unknown)
        raise ValueError(f"unknown key(s) {keys}; known: {sorted(known)}")
