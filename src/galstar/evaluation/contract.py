"""The predictions contract's table (keras-free, so that scikit-learn models write it
without importing a deep-learning backend); :mod:`galstar.evaluation.predict` fills it
from trained networks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from galstar.evaluation.metrics import CARRIED

__all__ = ["predictions_frame"]


def predictions_frame(table: pd.DataFrame, targets: Sequence[str], truth: np.ndarray,
                      pred: np.ndarray, sigma: np.ndarray | None = None,
                      extra: Mapping[str, np.ndarray] | None = None) -> pd.DataFrame:
    """The contract's table for one set of objects.

    Parameters
    ----------
    table : pandas.DataFrame
        The objects' catalogue rows (object_id, split and the carried columns).
    truth, pred, sigma : numpy.ndarray
        (n, n_targets) reference, estimate and uncertainty scale (None: zeros).
    extra : mapping, optional
        Column suffix -> (n, n_targets) array, e.g. ``{"mc_mean": ...}``.
    """
    frame = table[[c for c in CARRIED if c in table.columns]].reset_index(drop=True).copy()
    sigma = np.zeros_like(pred, dtype=float) if sigma is None else sigma
    for i, t in enumerate(targets):
        frame[t + "_true"] = np.asarray(truth, float)[:, i]
        frame[t + "_pred"] = np.asarray(pred, float)[:, i]
        frame[t + "_sigma"] = np.asarray(sigma, float)[:, i]
        for suffix, values in (extra or {}).items():
            frame[f"{t}_{suffix}"] = np.asarray(values)[:, i]
    return frame
