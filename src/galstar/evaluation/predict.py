"""Predictions of any trained model or baseline, written in one contract.

Every method's predictions table has ``object_id``, ``split``, the catalogue columns
the method carries (:data:`CARRIED` where present) and, per target ``<t>``:
``<t>_true`` (reference), ``<t>_pred`` (point estimate), ``<t>_sigma`` (per-object
uncertainty scale: the MC-dropout spread, 0 where there is none), and for networks
``<t>_mc_mean`` and ``<t>_clipped`` (the point estimate was limited to the training
labels' range).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from galstar.evaluation.contract import predictions_frame
from galstar.training.data import Split, iter_batches
from galstar.training.scaler import LabelScaler, load_scaler

__all__ = ["predictions_frame", "predict_split", "predict_model"]


def predict_split(model, scaler: LabelScaler, split: Split, *, mc_passes: int = 10,
                  batch_size: int = 256, clip: bool = True, tta: str = "none",
                  mc_dropout: bool = True) -> pd.DataFrame:
    """Point and MC-dropout predictions of ``model`` on ``split`` in physical units.

    Parameters
    ----------
    clip : bool
        Limit the point and MC-mean predictions to the training labels' range (config
        ``evaluation.clip_to_label_range``); ``<t>_clipped`` flags the objects.
    mc_dropout : bool
        False: a model without dropout; one deterministic pass, ``<t>_sigma`` = 0.
    """
    from galstar.evaluation.uncertainty import mc_dropout_predict

    if mc_dropout:
        point, mean, std = mc_dropout_predict(model, iter_batches(split, batch_size),
                                              passes=mc_passes, tta=tta)
    else:
        point = np.concatenate([np.asarray(model.predict_on_batch(x), dtype=np.float64)
                                for x in iter_batches(split, batch_size)])
        mean, std = point, np.zeros_like(point)
    outside = scaler.outside(point) & clip
    point, mean = scaler.inverse_transform(point, clip), scaler.inverse_transform(mean, clip)
    return predictions_frame(split.table, split.targets, split.labels, point,
                             scaler.inverse_scale(std),
                             {"mc_mean": mean, "clipped": outside})


def predict_model(model_path: str | os.PathLike, scaler_path: str | os.PathLike,
                  load_split: Callable[[str, Sequence[str]], Split], *, seed: int = 0,
                  splits: Sequence[str] = ("val", "test"), **options) -> pd.DataFrame:
    """Load a saved model and its scaler and predict every split of ``splits``.

    Parameters
    ----------
    load_split : callable
        ``load_split(split, targets) -> Split`` (the method's input loader).
    options
        Passed to :func:`predict_split`.
    """
    import keras

    keras.utils.set_random_seed(seed)  # fixes the dropout masks of the MC passes
    scaler = load_scaler(scaler_path)
    try:
        model = keras.saving.load_model(model_path, compile=False)
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot load model {model_path}: {err}") from err
    has_dropout = any(isinstance(layer, keras.layers.Dropout) and layer.rate > 0
                      for layer in model.layers)
    options.setdefault("mc_dropout", has_dropout)
    frames = [predict_split(model, scaler, data, **options)
              for data in (load_split(split, scaler.targets) for split in splits)
              if len(data)]
    if not frames:
        raise ValueError(f"model {model_path}: no kept objects in splits {list(splits)}")
    return pd.concat(frames, ignore_index=True)
