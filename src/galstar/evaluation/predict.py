"""Predictions of a trained experiment on the validation and test splits."""

from __future__ import annotations

import os
from collections.abc import Sequence

import keras
import pandas as pd

from galstar.evaluation.metrics import CARRIED
from galstar.training.data import iter_batches, load_split
from galstar.training.scaler import MinMaxScaler

__all__ = ["predict_experiment"]


def predict_experiment(model_path: str | os.PathLike, scaler_path: str | os.PathLike,
                       tables: Sequence[str | os.PathLike], images: Sequence[str | os.PathLike],
                       *, mc_passes: int = 10, batch_size: int = 256, seed: int = 0,
                       clip: bool = True, tta: str = "none",
                       splits: Sequence[str] = ("val", "test")) -> pd.DataFrame:
    """Point and MC-dropout predictions in physical units.

    Parameters
    ----------
    clip : bool
        Limit the point and MC-mean predictions to the training labels' range (config
        ``evaluation.clip_to_label_range``); ``<t>_clipped`` flags the objects.

    Returns
    -------
    pandas.DataFrame
        One row per kept object of ``splits``: :data:`CARRIED` columns, and per target
        ``<t>`` (reference), ``<t>_pred`` (dropout off), ``<t>_mc_mean``, ``<t>_mc_std``,
        ``<t>_clipped``.
    """
    from galstar.evaluation.uncertainty import mc_dropout_predict

    keras.utils.set_random_seed(seed)  # fixes the dropout masks of the MC passes
    scaler = MinMaxScaler.from_json(scaler_path)
    try:
        model = keras.saving.load_model(model_path, compile=False)
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot load model {model_path}: {err}") from err
    frames = []
    for split in splits:
        data = load_split(tables, images, split, scaler.targets)
        if len(data) == 0:
            continue
        point, mean, std = mc_dropout_predict(model, iter_batches(data, batch_size),
                                              passes=mc_passes, tta=tta)
        frame = data.table[[c for c in CARRIED if c in data.table.columns]].copy()
        outside = (point < 0.0) | (point > 1.0)
        point, mean = scaler.inverse_transform(point, clip), scaler.inverse_transform(mean, clip)
        std = scaler.inverse_scale(std)
        for i, t in enumerate(scaler.targets):
            frame[t] = data.labels[:, i]
            frame[t + "_pred"] = point[:, i]
            frame[t + "_mc_mean"] = mean[:, i]
            frame[t + "_mc_std"] = std[:, i]
            frame[t + "_clipped"] = outside[:, i] & clip
        frames.append(frame)
    if not frames:
        raise ValueError(f"no kept objects in splits {list(splits)} of {list(map(str, tables))}")
    return pd.concat(frames, ignore_index=True)
