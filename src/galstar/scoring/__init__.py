"""Pipeline outputs scored against the mock archive's truth.

The only package besides :mod:`galstar.mock` that reads the truth tables and the truth
maps. Submodules: ``quality`` (preprocessing masks and blend flags against the noiseless
maps), ``stage`` (the quality rule's file-level entry point, :func:`run_quality`).
"""

from __future__ import annotations

from typing import Any

__all__ = ["run_quality"]


def __getattr__(name: str) -> Any:
    if name == "run_quality":
        from galstar.scoring.stage import run_quality

        return run_quality
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
