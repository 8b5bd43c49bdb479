"""The multi-modal method's scikit-learn models: feature baselines tuned by k-fold
cross-validation on the training split, and late fusion by stacking on the validation
split only.

Both write the predictions contract and a ``fit.json`` beside it: the chosen
hyperparameters, the cross-validation scores of the grid and the wall times.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from galstar.evaluation.contract import predictions_frame
from galstar.io import atomic_path

__all__ = ["KINDS", "make_estimator", "tune_tabular", "fit_stacking", "write_fit"]

KINDS = ("linear", "random_forest")


def make_estimator(kind: str, settings: Mapping[str, Any], seed: int = 0):
    """A scikit-learn regressor whose targets are standardised on its training rows.

    ``linear``: standardised features, ridge regression (``alpha``); ``random_forest``:
    ``RandomForestRegressor`` with ``settings`` (missing feature values: medians).
    """
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    settings = dict(settings)
    try:
        if kind == "linear":
            model = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(),
                                  Ridge(**settings))
        elif kind == "random_forest":
            model = make_pipeline(SimpleImputer(strategy="median"), RandomForestRegressor(
                **{"n_jobs": 1, "random_state": seed, **settings}))
        else:
            raise ValueError(f"unknown tabular kind '{kind}'; choose one of {list(KINDS)}")
    except TypeError as err:
        raise ValueError(f"tabular {kind}: bad settings {settings}: {err}") from err
    return TransformedTargetRegressor(model, transformer=StandardScaler())


def _grid(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    keys = sorted(grid)
    return [dict(zip(keys, values, strict=True))
            for values in itertools.product(*(list(grid[k]) for k in keys))] or [{}]


def tune_tabular(features: pd.DataFrame, targets: Sequence[str], spec: Mapping[str, Any],
                 *, seed: int = 0, cv_folds: int = 3, splits: Sequence[str] = ("val", "test")
                 ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """k-fold CV over ``spec["grid"]`` on the training rows, refit with the best values,
    predict ``splits``.

    Parameters
    ----------
    features : pandas.DataFrame
        object_id, split, the targets and feature columns (every other column).
    spec : mapping
        ``kind`` (:data:`KINDS`), ``grid`` (name -> candidate values) and fixed settings.
    cv_folds : int
        k; the score is the mean over folds of R2 averaged over the targets.

    Returns
    -------
    predictions : pandas.DataFrame
        The predictions contract (sigma 0).
    fit : dict
        ``chosen`` (the values kept), ``cv`` (one record per grid point: its values,
        mean and std of the fold scores), ``fit_s``, ``predict_s``, ``features``.
    """
    from sklearn.model_selection import KFold, cross_val_score

    spec = dict(spec)
    kind, grid = spec.pop("kind"), spec.pop("grid", None) or {}
    names = [c for c in features.columns if c not in ("object_id", "split", *targets)]
    train = features[features["split"] == "train"]
    rows = features[features["split"].isin(splits)].reset_index(drop=True)
    if len(train) < cv_folds:
        raise ValueError(f"tabular {kind}: {len(train)} training objects for {cv_folds}-fold CV")
    x, y = train[names].to_numpy(float), train[list(targets)].to_numpy(float)
    folds = KFold(int(cv_folds), shuffle=True, random_state=seed)
    start = time.perf_counter()
    records = []
    for point in _grid(grid):
        scores = cross_val_score(make_estimator(kind, {**spec, **point}, seed), x, y,
                                 cv=folds, scoring="r2")
        records.append({**point, "mean_r2": float(np.mean(scores)),
                        "std_r2": float(np.std(scores))})
    best = max(records, key=lambda r: r["mean_r2"])
    chosen = {k: best[k] for k in grid}
    model = make_estimator(kind, {**spec, **chosen}, seed).fit(x, y)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    pred = np.asarray(model.predict(rows[names].to_numpy(float)), float)
    predict_s = time.perf_counter() - start
    frame = predictions_frame(rows, targets, rows[list(targets)].to_numpy(float),
                              pred.reshape(len(rows), len(targets)))
    return frame, {"kind": kind, "chosen": chosen, "fixed": spec, "cv_folds": int(cv_folds),
                   "cv": records, "fit_s": fit_s, "predict_s": predict_s, "features": names,
                   "n_train": len(train)}


def fit_stacking(members: Mapping[str, pd.DataFrame], targets: Sequence[str],
                 spec: Mapping[str, Any], *, seed: int = 0
                 ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Late fusion: a ridge combiner of the members' predicted targets, fitted on the
    validation objects only (alpha by k-fold CV on them), on the objects every member
    predicts; validation predictions are out-of-fold, test predictions come from the
    combiner fitted on all of validation.

    Parameters
    ----------
    members : mapping of str to pandas.DataFrame
        Member name -> its predictions (val and test rows; ``<t>_pred``, ``<t>_sigma``).
    spec : mapping
        ``alphas`` (candidate ridge penalties), ``cv_folds``.

    Returns
    -------
    predictions, fit : as :func:`tune_tabular`; ``<t>_sigma`` propagates the members'
    sigma through the combiner's coefficients on their own estimate of ``t``.
    """
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import KFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    names = list(members)
    base = members[names[0]][["object_id", "split", *[f"{t}_true" for t in targets]]]
    merged = base
    for name in names:
        frame = members[name]
        cols = [f"{t}_{s}" for t in targets for s in ("pred", "sigma")]
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise ValueError(f"late fusion member '{name}': predictions lack {missing}")
        merged = merged.merge(frame[["object_id", *cols]].rename(
            columns={c: f"{name}:{c}" for c in cols}), on="object_id", how="inner",
            validate="one_to_one")
    # image-only members also predict the few objects lost to their spectrum: the
    # combiner uses the objects every member predicts
    if not len(merged):
        raise ValueError(f"late fusion members {names} predict no object in common")
    n_uncommon = int(pd.concat([m["object_id"] for m in members.values()]).nunique()
                     - len(merged))
    features = [f"{n}:{t}_pred" for n in names for t in targets]
    val = merged[merged["split"] == "val"].reset_index(drop=True)
    test = merged[merged["split"] == "test"].reset_index(drop=True)
    folds = int(spec.get("cv_folds", 5))
    if len(val) < folds:
        raise ValueError(f"late fusion: {len(val)} validation objects for {folds}-fold CV")
    alphas = [float(a) for a in spec.get("alphas", (0.01, 0.1, 1.0, 10.0))]
    start = time.perf_counter()
    kf = KFold(folds, shuffle=True, random_state=seed)

    def combiner():
        return make_pipeline(StandardScaler(), RidgeCV(alphas=alphas, cv=kf))

    x_val, y_val = val[features].to_numpy(float), val[[f"{t}_true" for t in targets]].to_numpy()
    oof = cross_val_predict(combiner(), x_val, y_val, cv=kf)
    model = combiner().fit(x_val, y_val)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    pred_test = model.predict(test[features].to_numpy(float)) if len(test) else \
        np.empty((0, len(targets)))
    predict_s = time.perf_counter() - start
    scaler, ridge = model[0], model[1]
    coef = ridge.coef_ / scaler.scale_[None, :]  # physical units: (targets, features)

    def sigma(rows):
        out = np.zeros((len(rows), len(targets)))
        for i, t in enumerate(targets):
            for n in names:
                w = coef[i, features.index(f"{n}:{t}_pred")]
                out[:, i] += (w * rows[f"{n}:{t}_sigma"].to_numpy(float)) ** 2
        return np.sqrt(out)

    frames = [predictions_frame(rows, targets, rows[[f"{t}_true" for t in targets]].to_numpy(),
                                np.asarray(p).reshape(len(rows), len(targets)), sigma(rows))
              for rows, p in ((val, oof), (test, pred_test)) if len(rows)]
    weights = {t: {n: float(coef[i, features.index(f"{n}:{t}_pred")]) for n in names}
               for i, t in enumerate(targets)}
    return pd.concat(frames, ignore_index=True), {
        "kind": "stacking", "members": names, "chosen": {"alpha": float(ridge.alpha_)},
        "alphas": alphas, "cv_folds": folds, "fit_split": "val", "n_fit": len(val),
        "n_not_predicted_by_every_member": n_uncommon,
        "own_target_weights": weights, "fit_s": fit_s, "predict_s": predict_s}


def write_fit(fit: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Write a fit record as JSON atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(fit, indent=1, default=float))
