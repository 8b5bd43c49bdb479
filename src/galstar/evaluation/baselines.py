"""Baselines evaluated on exactly the objects the networks see: the training mean and
tabular regressors (random forest, gradient-boosted trees) on catalogue features.

Their metrics against a network's say how much its inputs add beyond the catalogue;
a comparison is like for like only when both see the same catalogue quantities (a
baseline uses the redshift iff ``z`` is among its features).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from galstar.evaluation.contract import predictions_frame
from galstar.features.baselines import fit_predict_tabular
from galstar.features.photometry import feature_table

__all__ = ["tabular_baseline"]


def tabular_baseline(table: pd.DataFrame, targets: Sequence[str], baseline: Mapping[str, Any],
                     *, seed: int = 0, splits: Sequence[str] = ("val", "test"),
                     source: str | None = None,
                     features_of: Callable[..., pd.DataFrame] = feature_table) -> pd.DataFrame:
    """Fit one baseline on the ``train`` rows of ``table`` and predict ``splits``.

    Parameters
    ----------
    table : pandas.DataFrame
        The method's kept objects of every split (``split``, the targets and the
        catalogue columns the features need).
    baseline : mapping
        ``kind`` (mean | random_forest | hist_gradient_boosting), ``features`` (names of
        :data:`galstar.features.photometry.FEATURES`; not needed for ``mean``) and the
        estimator's settings (any other key).
    source : str, optional
        Named in error messages (the file or config key the table came from).
    features_of : callable
        ``features_of(table, names, source)`` -> the feature columns; default: computed
        from the catalogue columns (:func:`galstar.features.photometry.feature_table`).

    Returns
    -------
    pandas.DataFrame
        The predictions contract (``<t>_sigma`` = 0: baselines give no uncertainty).
    """
    settings = dict(baseline)
    kind = settings.pop("kind")
    features = list(settings.pop("features", None) or [])
    train = table[table["split"] == "train"]
    rows = table[table["split"].isin(splits)]
    if train.empty:
        raise ValueError(f"{kind} baseline: no training objects in {source or 'the table'}")
    if kind != "mean" and not features:
        raise ValueError(f"{kind} baseline needs a feature list ({source or 'config'})")
    x_train = features_of(train, features, source).to_numpy() if features else \
        np.zeros((len(train), 0))
    x_rows = features_of(rows, features, source).to_numpy() if features else \
        np.zeros((len(rows), 0))
    y_train = train[list(targets)].to_numpy(float)
    pred = fit_predict_tabular(kind, x_train, y_train, x_rows, settings, seed=seed)
    pred = np.asarray(pred, float).reshape(len(rows), len(targets))
    return predictions_frame(rows, targets, rows[list(targets)].to_numpy(float), pred)
