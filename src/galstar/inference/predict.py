"""Predictions of a packaged model for prepared targets: the evaluation's own prediction
code (point, MC dropout, test-time augmentation, clipping) with the model's recorded
settings, then the stored calibration applied to the MC-dropout spread."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from galstar.inference.model_dir import ModelDirectory
from galstar.training.data import Split

__all__ = ["CI_LEVEL", "calibrate", "predict_targets"]

#: Level of the conformal interval written beside the 1-sigma (``<t>_lo95``, ``<t>_hi95``).
CI_LEVEL = 0.95


def calibrate(frame: pd.DataFrame, model: ModelDirectory) -> pd.DataFrame:
    """``<t>_sigma`` becomes the calibrated 1-sigma (the MC-dropout spread, kept as
    ``<t>_sigma_mc``, times the validation factor), and ``<t>_lo95`` / ``<t>_hi95`` the
    split-conformal interval (NaN where the validation split was too small for it);
    the missing references (``<t>_true``) are dropped."""
    out = frame.drop(columns=[f"{t}_true" for t in model.targets if f"{t}_true" in frame])
    for t in model.targets:
        raw = out[f"{t}_sigma"].to_numpy(dtype=float)
        scale = model.sigma_scale(t)
        q = model.conformal_q(t, CI_LEVEL)
        out[f"{t}_sigma_mc"] = raw
        out[f"{t}_sigma"] = raw * scale if math.isfinite(scale) else np.nan
        half = raw * q if math.isfinite(q) else np.full(len(out), np.nan)
        out[f"{t}_lo95"] = out[f"{t}_pred"].to_numpy(float) - half
        out[f"{t}_hi95"] = out[f"{t}_pred"].to_numpy(float) + half
    return out


def predict_targets(model: ModelDirectory, split: Split) -> pd.DataFrame:
    """Predictions for every object of ``split`` (row i = ``split.table`` row i), in
    physical units, calibrated; an empty split gives an empty frame."""
    import keras

    from galstar.evaluation.predict import predict_split
    from galstar.training.scaler import load_scaler

    columns = [f"{t}_{s}" for t in model.targets
               for s in ("pred", "sigma", "mc_mean", "clipped", "sigma_mc", "lo95", "hi95")]
    if not len(split):
        return pd.DataFrame(columns=columns)
    settings = model.manifest["inference"]
    keras.utils.set_random_seed(int(settings["seed"]))  # as the evaluation's predict rule
    scaler = load_scaler(model.path("scaler.json"))
    if list(scaler.targets) != model.targets:
        raise ValueError(f"model directory {model.root}: scaler targets {scaler.targets} "
                         f"differ from model.json's {model.targets}")
    net = keras.saving.load_model(model.path("model.keras"), compile=False)
    has_dropout = any(isinstance(layer, keras.layers.Dropout) and layer.rate > 0
                      for layer in net.layers)
    frame = predict_split(net, scaler, split, mc_passes=int(settings["mc_passes"]),
                          batch_size=int(settings["batch_size"]), clip=bool(settings["clip"]),
                          tta=str(settings["tta"]), mc_dropout=has_dropout)
    frame = calibrate(frame, model)
    return frame[[c for c in columns if c in frame.columns]].reset_index(drop=True)
