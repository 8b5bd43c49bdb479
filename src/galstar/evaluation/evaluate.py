"""Evaluation steps the workflow calls, one function per rule: metrics and uncertainty
of an experiment, baselines, and the cross-experiment tables."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from galstar.evaluation.metrics import metrics_table
from galstar.evaluation.tables import image_gain, table1, table2
from galstar.io import atomic_path, read_parquet, write_parquet

__all__ = ["write_csv", "evaluate_experiment", "evaluate_baseline", "run_baseline",
           "summarise_experiments"]


def write_csv(frame: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a table as CSV atomically (no index)."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")


def _targets(pred: pd.DataFrame) -> list[str]:
    return [c.removesuffix("_pred") for c in pred.columns if c.endswith("_pred")]


def evaluate_experiment(predictions_path: str | os.PathLike, settings: Mapping[str, Any], *,
                        metrics_path: str | os.PathLike, table2_path: str | os.PathLike,
                        uncertainty_path: str | os.PathLike,
                        calibration_path: str | os.PathLike) -> pd.DataFrame:
    """Test-split metrics, Table 2-like breakdown, MC-dropout bins and calibration.

    Parameters
    ----------
    predictions_path : path
        Output of :func:`galstar.evaluation.predict.predict_experiment`.
    settings : mapping
        Config ``evaluation``: outlier_dex, sigma_bin_dex, size_bins_arcsec, redshift_bins.

    Returns
    -------
    pandas.DataFrame
        The per-target metrics (also written to ``metrics_path``).
    """
    from galstar.evaluation.uncertainty import binned_sigma, calibration_table

    pred = read_parquet(predictions_path)
    targets = _targets(pred)
    outlier = float(settings.get("outlier_dex", 0.3))
    metrics = metrics_table(pred, targets, outlier_dex=outlier)
    write_csv(metrics, metrics_path)
    write_csv(table2(pred, targets, size_bins=settings["size_bins_arcsec"],
                     redshift_bins=settings["redshift_bins"], outlier_dex=outlier), table2_path)
    test = pred[pred["split"] == "test"]
    bins = [binned_sigma(test[t], test[t + "_mc_std"], float(settings.get("sigma_bin_dex", 0.5)))
            .assign(target=t) for t in targets]
    write_csv(pd.concat(bins, ignore_index=True), uncertainty_path)
    write_csv(calibration_table(pred, targets), calibration_path)
    return metrics


def run_baseline(kind: str, tables: Sequence[str | os.PathLike], targets: Sequence[str],
                 settings: Mapping[str, Any], *, seed: int, n_jobs: int,
                 predictions_path: str | os.PathLike) -> pd.DataFrame:
    """Fit baseline ``kind`` (``mean`` | ``random_forest``) and write its predictions."""
    from galstar.evaluation.baselines import load_catalogue, mean_baseline, random_forest_baseline

    catalogue = load_catalogue(tables, targets)
    if kind == "mean":
        pred = mean_baseline(catalogue, targets)
    elif kind == "random_forest":
        rf = settings.get("random_forest") or {}
        pred = random_forest_baseline(
            catalogue, targets, n_estimators=int(rf.get("n_estimators", 200)),
            min_samples_leaf=int(rf.get("min_samples_leaf", 3)), seed=seed, n_jobs=n_jobs)
    else:
        raise ValueError(f"config evaluation.baselines: unknown baseline '{kind}' "
                         "(known: mean, random_forest)")
    write_parquet(pred, predictions_path)
    return pred


def evaluate_baseline(predictions_path: str | os.PathLike, settings: Mapping[str, Any], *,
                      metrics_path: str | os.PathLike) -> pd.DataFrame:
    """Test-split metrics of a baseline's predictions."""
    pred = read_parquet(predictions_path)
    metrics = metrics_table(pred, _targets(pred),
                            outlier_dex=float(settings.get("outlier_dex", 0.3)))
    write_csv(metrics, metrics_path)
    return metrics


def summarise_experiments(metrics_paths: Mapping[str, str | os.PathLike],
                          experiments: Mapping[str, Mapping[str, Any]], reference: str, *,
                          table1_path: str | os.PathLike,
                          gain_path: str | os.PathLike) -> pd.DataFrame:
    """Table 1 over experiments and baselines, and the gain of ``reference`` over each
    baseline (names starting with ``baseline-``)."""
    frames = {}
    for name, path in metrics_paths.items():
        try:
            frames[name] = pd.read_csv(path)
        except (OSError, pd.errors.ParserError) as err:
            raise OSError(f"cannot read metrics table {path}: {err}") from err
    table = table1(frames, {n: experiments.get(n) for n in frames})
    write_csv(table, table1_path)
    baselines = [n for n in frames if n.startswith("baseline-")]
    targets = list(frames[reference]["target"])
    write_csv(image_gain(table, reference, baselines, targets), gain_path)
    return table
