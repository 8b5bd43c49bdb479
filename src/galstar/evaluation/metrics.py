"""Point-estimate metrics shared by every method (GalEffNet paper, Section 4.1, plus
RMSE, R2 and medians), on the predictions contract: per target ``<t>_true`` and
``<t>_pred``.

The residual is prediction minus reference: a positive bias means overestimation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["CARRIED", "METRICS", "SHORT", "prediction_targets", "regression_metrics",
           "metrics_table", "grouped_metrics", "bin_label"]

METRICS = ("N", "MAE", "RMSE", "sigma", "bias", "bias_median", "f_out", "R2")
#: Short target names used in wide tables' column names and plots.
SHORT = {"lgm_fib_p50": "logM", "specsfr_fib_p50": "logsSFR", "log_sigma_sfr": "logSigmaSFR"}

#: Catalogue columns carried into every predictions table (for the per-group metrics).
CARRIED = ("object_id", "split", "z", "TYPE", "SHAPE_R", "radius_arcsec")


def prediction_targets(predictions: pd.DataFrame) -> list[str]:
    """The targets of a predictions table (columns ``<t>_pred``), in column order."""
    return [c.removesuffix("_pred") for c in predictions.columns if c.endswith("_pred")]


def regression_metrics(truth: np.ndarray, pred: np.ndarray,
                       outlier_dex: float = 0.3) -> dict[str, float]:
    """Metrics of ``pred`` against ``truth`` (both in dex).

    Returns
    -------
    dict
        N; MAE = mean |r|; sigma = standard deviation of r (ddof 0, as the paper's
        formula); f_out = fraction with |r| > ``outlier_dex`` (a factor of ~2);
        bias (mean r), bias_median; RMSE = sqrt(mean r^2); R2 = 1 - sum r^2 / sum
        (truth - mean truth)^2. NaN when N = 0.
    """
    truth, pred = np.asarray(truth, dtype=float), np.asarray(pred, dtype=float)
    if truth.shape != pred.shape:
        raise ValueError(f"truth {truth.shape} and prediction {pred.shape} differ in shape")
    r = pred - truth
    if r.size == 0:
        return {"N": 0, **{k: float("nan") for k in METRICS[1:]}}
    total = float(np.sum((truth - truth.mean()) ** 2))
    return {"N": int(r.size), "MAE": float(np.mean(np.abs(r))),
            "RMSE": float(np.sqrt(np.mean(r ** 2))), "sigma": float(np.std(r)),
            "bias": float(np.mean(r)), "bias_median": float(np.median(r)),
            "f_out": float(np.mean(np.abs(r) > outlier_dex)),
            "R2": 1.0 - float(np.sum(r ** 2)) / total if total > 0 else float("nan")}


def metrics_table(predictions: pd.DataFrame, targets: Sequence[str], split: str = "test",
                  outlier_dex: float = 0.3, pred_suffix: str = "_pred") -> pd.DataFrame:
    """One row per target on ``split``: the metrics, the label spread and sigma / spread.

    ``predictions`` holds the reference in column ``<target>_true`` and the estimate
    in ``<target><pred_suffix>``.
    """
    rows = predictions[predictions["split"] == split]
    if rows.empty:
        raise ValueError(f"no '{split}' rows in the predictions table")
    out = []
    for t in targets:
        m = regression_metrics(rows[t + "_true"], rows[t + pred_suffix], outlier_dex)
        label_std = float(np.std(rows[t + "_true"]))
        row = {"target": t, **m, "label_std": label_std,
               "sigma_over_std": m["sigma"] / label_std if label_std > 0 else np.nan}
        if t + "_clipped" in rows:  # predictions limited to the training label range
            row["n_clipped"] = int(rows[t + "_clipped"].sum())
        out.append(row)
    return pd.DataFrame(out)


def grouped_metrics(predictions: pd.DataFrame, targets: Sequence[str], by: str,
                    bins: Sequence[float] | None = None, split: str = "test",
                    outlier_dex: float = 0.3) -> pd.DataFrame:
    """Metrics per group of ``by`` (categorical, or right-closed ``bins`` edges).

    Returns a long table: by, group, target, the bin edges ``lo`` and ``hi`` (NaN for
    categorical groups) and the metrics (empty groups have N = 0). A binned group is
    named by its edges, ``"2-3"`` for (2, 3] (the first bin includes its lower edge).
    """
    rows = predictions[predictions["split"] == split]
    if by not in rows.columns:
        raise ValueError(f"predictions have no column '{by}' to group by")
    if bins is not None:
        edges = [float(b) for b in bins]
        key = pd.cut(rows[by], bins=edges, right=True, include_lowest=True, labels=False)
        groups = [(bin_label(lo, hi), lo, hi, rows[key == i])
                  for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=True))]
    else:
        groups = [(str(g), np.nan, np.nan, rows[rows[by] == g])
                  for g in sorted(rows[by].dropna().unique())]
    out = []
    for name, lo, hi, sub in groups:
        for t in targets:
            out.append({"by": by, "group": name, "target": t, "lo": lo, "hi": hi,
                        **regression_metrics(sub[t + "_true"], sub[t + "_pred"], outlier_dex)})
    return pd.DataFrame(out)


def bin_label(lo: float, hi: float) -> str:
    """A bin's name for tables and axes: ``"0-2"``, or ``"-3 to -2"`` with a negative
    edge (where a hyphen would read as a minus sign)."""
    sep = " to " if min(lo, hi) < 0 else "-"
    return f"{lo:g}{sep}{hi:g}"
