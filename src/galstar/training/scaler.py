"""Label scalers fitted on the training split and saved beside the model.

Every scaler is affine per target, ``scaled = (label - centre) / scale``: min-max
(centre = minimum, scale = range, labels in [0, 1]), standard (mean, standard
deviation) and robust (median, interquartile range; for long-tailed labels such as
Sigma_SFR). Each remembers the training labels' range, beyond which a prediction is
an extrapolation.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from galstar.io import atomic_path

__all__ = ["SCALERS", "LabelScaler", "MinMaxScaler", "fit_scaler", "load_scaler"]

#: Config ``scaler`` values.
SCALERS = ("minmax", "standard", "robust")


@dataclass(frozen=True)
class LabelScaler:
    """An affine per-target label scaling.

    Attributes
    ----------
    kind : {'minmax', 'standard', 'robust'}
    targets : tuple of str
        Column names, in output order.
    centre, scale : tuple of float
        ``scaled = (label - centre) / scale`` per target.
    minimum, maximum : tuple of float
        Per-target range of the training labels.
    """

    kind: str
    targets: tuple[str, ...]
    centre: tuple[float, ...]
    scale: tuple[float, ...]
    minimum: tuple[float, ...]
    maximum: tuple[float, ...]

    @property
    def span(self) -> np.ndarray:
        return np.asarray(self.scale)

    def transform(self, labels: np.ndarray) -> np.ndarray:
        """Physical labels -> scaled (float32)."""
        return ((np.asarray(labels) - np.asarray(self.centre)) / self.span).astype(np.float32)

    def scaled_range(self) -> tuple[np.ndarray, np.ndarray]:
        """The training labels' range in scaled units (min-max: exactly 0 and 1)."""
        lo = (np.asarray(self.minimum) - np.asarray(self.centre)) / self.span
        hi = (np.asarray(self.maximum) - np.asarray(self.centre)) / self.span
        return lo, hi

    def outside(self, scaled: np.ndarray) -> np.ndarray:
        """Which scaled predictions lie outside the training labels' range."""
        lo, hi = self.scaled_range()
        scaled = np.asarray(scaled, dtype=np.float64)
        return (scaled < lo) | (scaled > hi)

    def inverse_transform(self, scaled: np.ndarray, clip: bool = False) -> np.ndarray:
        """Scaled predictions -> physical units (float64).

        With ``clip``, values are first limited to the training labels' range, beyond
        which a prediction is an extrapolation the data do not support.
        """
        scaled = np.asarray(scaled, dtype=np.float64)
        if clip:
            scaled = np.clip(scaled, *self.scaled_range())
        return scaled * self.span + np.asarray(self.centre)

    def inverse_scale(self, scaled_spread: np.ndarray) -> np.ndarray:
        """A spread (standard deviation) in scaled units -> physical units."""
        return np.asarray(scaled_spread, dtype=np.float64) * self.span

    def to_json(self, path: str | os.PathLike) -> None:
        """Write the scaler atomically as JSON."""
        payload = {"kind": self.kind, "targets": list(self.targets),
                   "min": list(self.minimum), "max": list(self.maximum)}
        if self.kind != "minmax":
            payload.update(centre=list(self.centre), scale=list(self.scale))
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(payload, indent=2) + "\n")


def MinMaxScaler(targets: Sequence[str], minimum: Sequence[float],  # noqa: N802
                 maximum: Sequence[float]) -> LabelScaler:
    """The min-max scaler of a known range (labels in [0, 1])."""
    lo, hi = tuple(map(float, minimum)), tuple(map(float, maximum))
    span = tuple(float(b - a) for a, b in zip(lo, hi, strict=True))
    return LabelScaler("minmax", tuple(targets), lo, span, lo, hi)


def fit_scaler(kind: str, labels: np.ndarray, targets: Sequence[str]) -> LabelScaler:
    """Fit scaler ``kind`` on an (n, n_targets) array of training labels."""
    if kind not in SCALERS:
        raise ValueError(f"config training.scaler: unknown scaler '{kind}'; "
                         f"choose one of {list(SCALERS)}")
    labels = np.asarray(labels, dtype=np.float64)
    if labels.ndim != 2 or labels.shape[1] != len(targets) or len(labels) == 0:
        raise ValueError(f"labels of shape {labels.shape} do not match targets {list(targets)}")
    if not np.all(np.isfinite(labels)):
        raise ValueError(f"non-finite training labels in {list(targets)}")
    lo, hi = labels.min(axis=0), labels.max(axis=0)
    if np.any(hi <= lo):
        flat = [t for t, a, b in zip(targets, lo, hi, strict=True) if b <= a]
        raise ValueError(f"training labels {flat} are constant: cannot scale them")
    if kind == "minmax":
        return MinMaxScaler(targets, lo, hi)
    if kind == "standard":
        centre, scale = labels.mean(axis=0), labels.std(axis=0)
    else:
        q25, centre, q75 = np.percentile(labels, [25, 50, 75], axis=0)
        # a label with a degenerate IQR (most values equal) falls back to its std
        scale = np.where(q75 > q25, q75 - q25, labels.std(axis=0))
    return LabelScaler(kind, tuple(targets), tuple(map(float, centre)),
                       tuple(map(float, scale)), tuple(map(float, lo)), tuple(map(float, hi)))


def load_scaler(path: str | os.PathLike) -> LabelScaler:
    """Read a scaler written by :meth:`LabelScaler.to_json`; errors name the file."""
    try:
        with open(path) as handle:
            payload = json.load(handle)
        kind = payload.get("kind")
        if kind not in SCALERS:
            raise ValueError(f"kind is {kind!r}, expected one of {list(SCALERS)}")
        if kind == "minmax":
            return MinMaxScaler(payload["targets"], payload["min"], payload["max"])
        return LabelScaler(kind, tuple(payload["targets"]), tuple(map(float, payload["centre"])),
                           tuple(map(float, payload["scale"])), tuple(map(float, payload["min"])),
                           tuple(map(float, payload["max"])))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"invalid label scaler {path}: {err}") from err
