"""Min-max label scaling fitted on the training split and saved beside the model."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from galstar.io import atomic_path

__all__ = ["MinMaxScaler"]


@dataclass(frozen=True)
class MinMaxScaler:
    """Map each target column to [0, 1] using the training split's range.

    Attributes
    ----------
    targets : tuple of str
        Column names, in output order.
    minimum, maximum : tuple of float
        Per-target range on the training split.
    """

    targets: tuple[str, ...]
    minimum: tuple[float, ...]
    maximum: tuple[float, ...]

    @classmethod
    def fit(cls, labels: np.ndarray, targets: Sequence[str]) -> MinMaxScaler:
        """Fit on an (n, n_targets) array of training labels."""
        labels = np.asarray(labels, dtype=np.float64)
        if labels.ndim != 2 or labels.shape[1] != len(targets) or len(labels) == 0:
            raise ValueError(
                f"labels of shape {labels.shape} do not match targets {list(targets)}"
            )
        if not np.all(np.isfinite(labels)):
            raise ValueError(f"non-finite training labels in {list(targets)}")
        lo, hi = labels.min(axis=0), labels.max(axis=0)
        if np.any(hi <= lo):
            flat = [t for t, a, b in zip(targets, lo, hi, strict=True) if b <= a]
            raise ValueError(f"training labels {flat} are constant: cannot min-max scale")
        return cls(tuple(targets), tuple(map(float, lo)), tuple(map(float, hi)))

    @property
    def span(self) -> np.ndarray:
        return np.asarray(self.maximum) - np.asarray(self.minimum)

    def transform(self, labels: np.ndarray) -> np.ndarray:
        """Physical labels -> [0, 1] (float32)."""
        return ((np.asarray(labels) - np.asarray(self.minimum)) / self.span).astype(np.float32)

    def inverse_transform(self, scaled: np.ndarray, clip: bool = False) -> np.ndarray:
        """Scaled predictions -> physical units (float64).

        With ``clip``, values are first limited to [0, 1]: the range of the training
        labels, beyond which a prediction is an extrapolation the data do not support.
        """
        scaled = np.asarray(scaled, dtype=np.float64)
        if clip:
            scaled = np.clip(scaled, 0.0, 1.0)
        return scaled * self.span + np.asarray(self.minimum)

    def inverse_scale(self, scaled_spread: np.ndarray) -> np.ndarray:
        """A spread (standard deviation) in scaled units -> physical units."""
        return np.asarray(scaled_spread, dtype=np.float64) * self.span

    def to_json(self, path: str | os.PathLike) -> None:
        """Write the scaler atomically as JSON."""
        payload = {"kind": "minmax", "targets": list(self.targets),
                   "min": list(self.minimum), "max": list(self.maximum)}
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(payload, indent=2) + "\n")

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> MinMaxScaler:
        """Read a scaler written by :meth:`to_json`; errors name the file."""
        try:
            payload = json.loads(open(path).read())
            if payload.get("kind") != "minmax":
                raise ValueError(f"kind is {payload.get('kind')!r}, expected 'minmax'")
            return cls(tuple(payload["targets"]), tuple(map(float, payload["min"])),
                       tuple(map(float, payload["max"])))
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ValueError(f"invalid label scaler {path}: {err}") from err
