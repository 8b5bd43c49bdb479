"""MC-dropout uncertainty (paper Section 4.2) and its calibration.

The paper reports the MC-dropout 1-sigma but never checks it against the residuals.
Here a single factor s is fitted on the validation split so that 68.27 per cent of
|residual| / sigma fall below s, and the test coverage within 1 and 2 sigma is given
before and after scaling.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # keras is imported lazily: the calibration helpers do not need it
    import keras

__all__ = ["TTA_VIEWS", "mc_dropout_predict", "binned_sigma", "coverage", "fit_sigma_scale",
           "calibration_table"]

#: Config ``evaluation.tta`` -> number of D4 views predicted per image.
TTA_VIEWS = {"none": 1, "d4": 8}

ONE_SIGMA = 0.682689492
TWO_SIGMA = 0.954499736


def mc_dropout_predict(model: keras.Model, batches: Iterable[np.ndarray], passes: int = 10,
                       dropout: bool = True, tta: str = "none"
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Deterministic and MC-dropout predictions (scaled label units).

    Parameters
    ----------
    model : keras.Model
        A GalEffNet (see :func:`galstar.models.galeffnet.mc_dropout_parts`).
    batches : iterable of numpy.ndarray
        Image batches.
    passes : int
        T, the number of stochastic passes (paper: 10).
    dropout : bool
        False switches dropout off in the T passes (spread must then be zero).
    tta : {"none", "d4"}
        ``"d4"``: predict each of the 8 flips/rotations of an image (the targets do not
        depend on orientation) and take the median, in the point prediction and in
        each MC pass. The median, not the mean: a view the network extrapolates from
        must not drag the estimate with it.

    Returns
    -------
    point, mean, std : numpy.ndarray
        (n, n_targets): dropout-free prediction, mean and standard deviation over T.
    """
    import keras

    from galstar.models.galeffnet import mc_dropout_parts
    from galstar.training.data import d4_transform

    if passes < 2:
        raise ValueError(f"MC dropout needs at least 2 passes, got {passes}")
    if tta not in TTA_VIEWS:
        raise ValueError(f"config evaluation.tta: unknown setting '{tta}'; "
                         f"choose one of {sorted(TTA_VIEWS)}")
    features, head = mc_dropout_parts(model)

    def predict(views, training):
        # Each view gets its own dropout mask.
        out = np.stack([keras.ops.convert_to_numpy(head(f, training=training))
                        for f in views]).astype(np.float64)
        return np.median(out, axis=0)

    point, means, stds = [], [], []
    for x in batches:
        views = [keras.ops.convert_to_tensor(
                     features.predict_on_batch(np.ascontiguousarray(d4_transform(x, op))))
                 for op in range(TTA_VIEWS[tta])]
        point.append(predict(views, training=False))
        draws = np.stack([predict(views, training=dropout) for _ in range(passes)])
        means.append(draws.mean(axis=0))
        # Shifted by the first draw: identical draws give exactly zero spread.
        stds.append((draws - draws[0]).std(axis=0))
    return np.concatenate(point), np.concatenate(means), np.concatenate(stds)


def binned_sigma(truth: np.ndarray, sigma: np.ndarray, width: float = 0.5) -> pd.DataFrame:
    """Mean and standard deviation of the 1-sigma per ``width``-dex bin of the reference
    value (paper Fig. 9); bins are right-closed like the paper's (8.0, 8.5]."""
    truth, sigma = np.asarray(truth, float), np.asarray(sigma, float)
    lo = np.floor(truth.min() / width) * width
    edges = np.arange(lo, truth.max() + width, width)
    if edges[-1] < truth.max():
        edges = np.append(edges, edges[-1] + width)
    idx = np.clip(np.searchsorted(edges, truth, side="left") - 1, 0, len(edges) - 2)
    rows = []
    for i in range(len(edges) - 1):
        s = sigma[idx == i]
        rows.append({"bin_lo": edges[i], "bin_hi": edges[i + 1], "N": int(s.size),
                     "mean_sigma": float(s.mean()) if s.size else np.nan,
                     "std_sigma": float(s.std()) if s.size else np.nan})
    return pd.DataFrame(rows)


def coverage(truth: np.ndarray, mean: np.ndarray, sigma: np.ndarray, k: float) -> float:
    """Fraction of objects with |truth - mean| <= k sigma."""
    r = np.abs(np.asarray(truth, float) - np.asarray(mean, float))
    return float(np.mean(r <= k * np.asarray(sigma, float)))


def fit_sigma_scale(truth: np.ndarray, mean: np.ndarray, sigma: np.ndarray) -> float:
    """The factor s making s * sigma cover 68.27 per cent of the residuals.

    NaN when every sigma is zero (no dropout: nothing to scale).
    """
    sigma = np.asarray(sigma, float)
    ok = sigma > 0
    if not ok.any():
        return float("nan")
    z = np.abs(np.asarray(truth, float) - np.asarray(mean, float))[ok] / sigma[ok]
    return float(np.quantile(z, ONE_SIGMA))


def calibration_table(predictions: pd.DataFrame, targets: Sequence[str],
                      fit_split: str = "val", eval_split: str = "test") -> pd.DataFrame:
    """Per target: the scale fitted on ``fit_split`` and the ``eval_split`` coverage
    within 1 and 2 sigma before and after scaling (ideal: 0.683 and 0.954)."""
    fit = predictions[predictions["split"] == fit_split]
    ev = predictions[predictions["split"] == eval_split]
    if fit.empty or ev.empty:
        raise ValueError(f"calibration needs '{fit_split}' and '{eval_split}' rows")
    rows = []
    for t in targets:
        mean, std = t + "_mc_mean", t + "_mc_std"
        s = fit_sigma_scale(fit[t], fit[mean], fit[std])
        row = {"target": t, "scale": s, "mean_sigma": float(ev[std].mean()),
               "N": len(ev)}
        for k in (1, 2):
            row[f"within_{k}sigma_raw"] = coverage(ev[t], ev[mean], ev[std], k)
            row[f"within_{k}sigma_scaled"] = (coverage(ev[t], ev[mean], s * ev[std], k)
                                              if np.isfinite(s) else np.nan)
        row["ideal_1sigma"], row["ideal_2sigma"] = ONE_SIGMA, TWO_SIGMA
        rows.append(row)
    return pd.DataFrame(rows)
