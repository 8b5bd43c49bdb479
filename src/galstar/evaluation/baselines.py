"""Baselines evaluated on exactly the objects the networks see: the training mean,
and a random forest on DR9 catalogue photometry (magnitudes, colours, SHAPE_R, z).

Their metrics against the image model's say how much the pixels add beyond the
catalogue.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from galstar.evaluation.metrics import CARRIED
from galstar.io import read_parquet

__all__ = ["PHOTOMETRIC_FEATURES", "load_catalogue", "photometric_features",
           "mean_baseline", "random_forest_baseline"]

PHOTOMETRIC_FEATURES = ("mag_g", "mag_r", "mag_z", "g_r", "r_z", "g_z", "SHAPE_R", "z")
_FLUX_FLOOR = 1e-3  # nanomaggies; negative/zero fluxes would give undefined magnitudes


def load_catalogue(tables: Sequence[str | os.PathLike], targets: Sequence[str]) -> pd.DataFrame:
    """Kept objects of every split from the shard tables (errors name the file)."""
    needed = ("object_id", "split", "kept", "FLUX_G", "FLUX_R", "FLUX_Z", "SHAPE_R", "z",
              *targets)
    frames = []
    for path in tables:
        t = read_parquet(path)
        missing = [c for c in needed if c not in t.columns]
        if missing:
            raise ValueError(f"{path}: missing columns {missing} for the baselines")
        frames.append(t[t["kept"].to_numpy(dtype=bool)])
    return pd.concat(frames, ignore_index=True)


def photometric_features(table: pd.DataFrame) -> pd.DataFrame:
    """DR9 fluxes (nanomaggies) -> AB magnitudes and colours, plus SHAPE_R and z."""
    mags = {b: 22.5 - 2.5 * np.log10(np.clip(table[f"FLUX_{b.upper()}"].to_numpy(float),
                                             _FLUX_FLOOR, None)) for b in "grz"}
    return pd.DataFrame({
        "mag_g": mags["g"], "mag_r": mags["r"], "mag_z": mags["z"],
        "g_r": mags["g"] - mags["r"], "r_z": mags["r"] - mags["z"], "g_z": mags["g"] - mags["z"],
        "SHAPE_R": table["SHAPE_R"].to_numpy(float), "z": table["z"].to_numpy(float),
    })


def _frame(rows: pd.DataFrame, targets: Sequence[str], pred: np.ndarray) -> pd.DataFrame:
    out = rows[[c for c in CARRIED if c in rows.columns]].reset_index(drop=True).copy()
    for i, t in enumerate(targets):
        out[t] = rows[t].to_numpy(float)
        out[t + "_pred"] = pred[:, i]
    return out


def mean_baseline(catalogue: pd.DataFrame, targets: Sequence[str],
                  splits: Sequence[str] = ("val", "test")) -> pd.DataFrame:
    """Predict the training-split mean of each target for every object of ``splits``."""
    train = catalogue[catalogue["split"] == "train"]
    if train.empty:
        raise ValueError("mean baseline: no training objects")
    mean = train[list(targets)].to_numpy(float).mean(axis=0)
    rows = catalogue[catalogue["split"].isin(splits)]
    return _frame(rows, targets, np.tile(mean, (len(rows), 1)))


def random_forest_baseline(catalogue: pd.DataFrame, targets: Sequence[str], *,
                           n_estimators: int = 200, min_samples_leaf: int = 3,
                           seed: int = 0, n_jobs: int = 1,
                           splits: Sequence[str] = ("val", "test")) -> pd.DataFrame:
    """A random forest (multi-output) on :data:`PHOTOMETRIC_FEATURES`, fitted on train."""
    from sklearn.ensemble import RandomForestRegressor

    train = catalogue[catalogue["split"] == "train"]
    if train.empty:
        raise ValueError("random forest baseline: no training objects")
    x_train = photometric_features(train).to_numpy()
    if not np.all(np.isfinite(x_train)):
        # Missing SHAPE_R / z would silently bias the forest; impute with train medians.
        med = np.nanmedian(np.where(np.isfinite(x_train), x_train, np.nan), axis=0)
        x_train = np.where(np.isfinite(x_train), x_train, med)
    else:
        med = np.median(x_train, axis=0)
    forest = RandomForestRegressor(n_estimators=n_estimators, min_samples_leaf=min_samples_leaf,
                                   random_state=seed, n_jobs=n_jobs)
    forest.fit(x_train, train[list(targets)].to_numpy(float))
    rows = catalogue[catalogue["split"].isin(splits)]
    x = photometric_features(rows).to_numpy()
    x = np.where(np.isfinite(x), x, med)
    pred = forest.predict(x).reshape(len(rows), len(targets))
    return _frame(rows, targets, pred)
