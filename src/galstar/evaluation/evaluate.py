"""Evaluation steps shared by every method: test metrics and interval calibration of a
predictions table (networks and baselines alike)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import pandas as pd

from galstar.evaluation.calibration import calibration_table
from galstar.evaluation.metrics import metrics_table, prediction_targets
from galstar.io import atomic_path, read_parquet

__all__ = ["write_csv", "evaluate_predictions"]


def write_csv(frame: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a table as CSV atomically (no index)."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")


def evaluate_predictions(predictions_path: str | os.PathLike, settings: Mapping[str, Any], *,
                         metrics_path: str | os.PathLike,
                         calibration_path: str | os.PathLike) -> pd.DataFrame:
    """Test-split metrics and the raw / scaled / conformal interval coverage.

    Parameters
    ----------
    predictions_path : path
        A predictions table (:mod:`galstar.evaluation.predict`).
    settings : mapping
        ``outlier_dex`` (f_out threshold), ``interval_levels`` and
        ``calibration_split`` (``val``, the default, or ``loo``:
        :func:`~galstar.evaluation.calibration.calibration_table`).

    Returns
    -------
    pandas.DataFrame
        The per-target metrics (also written to ``metrics_path``).
    """
    pred = read_parquet(predictions_path)
    targets = prediction_targets(pred)
    metrics = metrics_table(pred, targets, outlier_dex=float(settings.get("outlier_dex", 0.3)))
    write_csv(metrics, metrics_path)
    levels = settings.get("interval_levels") or (0.68, 0.95)
    fit_split = settings.get("calibration_split") or "val"
    write_csv(calibration_table(pred, targets, fit_split=fit_split, levels=levels),
              calibration_path)
    return metrics
