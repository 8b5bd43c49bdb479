"""Tabular baselines on the same features and splits as the networks.

``mean`` predicts the training mean; ``random_forest`` (scikit-learn, multi-output,
missing values imputed with the training medians) and ``hist_gradient_boosting`` (one
``HistGradientBoostingRegressor`` per target column; NaN handled natively).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["KINDS", "fit_predict_tabular"]

KINDS = ("mean", "random_forest", "hist_gradient_boosting")


def _as_2d(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    return y[:, None] if y.ndim == 1 else y


def _estimator(cls: type, settings: Mapping[str, Any], kind: str, **fixed: Any):
    try:
        return cls(**{**fixed, **dict(settings)})
    except TypeError as err:  # an unknown keyword, named by scikit-learn
        raise ValueError(f"baseline '{kind}': bad settings {dict(settings)}: {err}") from err


def fit_predict_tabular(kind: str, X_train: np.ndarray, y_train: np.ndarray,
                        X_eval: np.ndarray, settings: Mapping[str, Any] | None = None,
                        seed: int = 0) -> np.ndarray:
    """Fit a tabular baseline on the training rows and predict ``X_eval``.

    Parameters
    ----------
    kind : {"mean", "random_forest", "hist_gradient_boosting"}
        The baseline.
    X_train, X_eval : numpy.ndarray
        Features, shape (n, F); NaN marks a missing value.
    y_train : numpy.ndarray
        Labels, shape (n,) or (n, T); must be finite.
    settings : mapping, optional
        Keyword arguments of the scikit-learn estimator (e.g. ``max_iter``,
        ``learning_rate`` for HGB; ``n_estimators``, ``min_samples_leaf`` for RF).
    seed : int
        ``random_state`` of the estimator.

    Returns
    -------
    numpy.ndarray
        float64 predictions with ``y_train``'s trailing shape: (n_eval,) or (n_eval, T).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown tabular baseline '{kind}'; choose one of {list(KINDS)}")
    settings = dict(settings or {})
    x_tr, x_ev = np.asarray(X_train, dtype=np.float64), np.asarray(X_eval, dtype=np.float64)
    y = _as_2d(y_train)
    if x_tr.ndim != 2 or x_ev.ndim != 2 or x_tr.shape[1] != x_ev.shape[1]:
        raise ValueError(f"features must be 2-D with the same columns: train {x_tr.shape}, "
                         f"eval {x_ev.shape}")
    if len(y) != len(x_tr) or len(y) == 0:
        raise ValueError(f"{len(x_tr)} training rows but {len(y)} labels")
    if not np.all(np.isfinite(y)):
        raise ValueError("training labels must be finite (reject the rows first)")
    if kind == "mean":
        pred = np.repeat(y.mean(axis=0, keepdims=True), len(x_ev), axis=0)
    elif kind == "random_forest":
        from sklearn.ensemble import RandomForestRegressor

        medians = np.nanmedian(np.where(np.isfinite(x_tr), x_tr, np.nan), axis=0)
        medians = np.where(np.isfinite(medians), medians, 0.0)  # an all-missing column

        def impute(x: np.ndarray) -> np.ndarray:
            return np.where(np.isfinite(x), x, medians)

        model = _estimator(RandomForestRegressor, settings, kind, random_state=seed, n_jobs=1)
        model.fit(impute(x_tr), y if y.shape[1] > 1 else y[:, 0])
        pred = _as_2d(model.predict(impute(x_ev)))
    else:
        from sklearn.ensemble import HistGradientBoostingRegressor

        x_tr = np.where(np.isinf(x_tr), np.nan, x_tr)
        x_ev = np.where(np.isinf(x_ev), np.nan, x_ev)
        pred = np.empty((len(x_ev), y.shape[1]))
        for j in range(y.shape[1]):  # HGB fits one target at a time
            model = _estimator(HistGradientBoostingRegressor, settings, kind,
                               random_state=seed)
            model.fit(x_tr, y[:, j])
            pred[:, j] = model.predict(x_ev)
    return pred[:, 0] if np.ndim(y_train) == 1 else pred
