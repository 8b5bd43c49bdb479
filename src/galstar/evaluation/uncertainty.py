"""MC-dropout uncertainty for any model with dropout (GalEffNet paper, Section 4.2).

The spread of T stochastic passes is a per-object scale, not a calibrated interval:
:mod:`galstar.evaluation.calibration` turns it into one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # keras is imported lazily: the calibration helpers do not need it
    import keras

__all__ = ["TTA_VIEWS", "mc_dropout_parts", "mc_dropout_predict", "binned_sigma"]

#: Config ``evaluation.tta`` -> number of D4 views predicted per image.
TTA_VIEWS = {"none": 1, "d4": 8}


def mc_dropout_parts(model: keras.Model) -> tuple[keras.Model, keras.Model]:
    """Split a functional model at its first Dropout layer: a deterministic feature
    extractor and a stochastic head.

    MC dropout must keep batch normalisation in inference mode while dropout stays
    active, so ``model(x, training=True)`` is wrong. The expensive part before the
    first dropout runs once per batch; only the head is sampled T times. Works for any
    model whose head (from the first top-level ``keras.layers.Dropout`` on) has no
    batch normalisation.

    Raises
    ------
    ValueError
        The model has no top-level dropout, or its head holds batch normalisation.
    """
    import keras

    dropouts = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    if not dropouts:
        raise ValueError(f"model {model.name} has no dropout layer: MC dropout needs one "
                         "(set dropout > 0)")
    cut = dropouts[0].input  # model.layers is in topological order
    features = keras.Model(model.input, cut)  # the same input structure (a dict of names)
    head = keras.Model(cut, model.outputs)
    if any(isinstance(layer, keras.layers.BatchNormalization) for layer in head.layers):
        raise ValueError(f"model {model.name}: batch normalisation after the first dropout "
                         "would run in training mode during MC dropout")
    return features, head


def mc_dropout_predict(model: keras.Model, batches: Iterable[Mapping[str, np.ndarray]],
                       passes: int = 10, dropout: bool = True, tta: str = "none"
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Deterministic and MC-dropout predictions (scaled label units).

    Parameters
    ----------
    model : keras.Model
        Any functional model with a dropout layer (see :func:`mc_dropout_parts`).
    batches : iterable of mapping
        Input batches keyed by the model's input names.
    passes : int
        T, the number of stochastic passes (GalEffNet paper: 10).
    dropout : bool
        False switches dropout off in the T passes (spread must then be zero).
    tta : {"none", "d4"}
        ``"d4"``: predict each of the 8 flips/rotations of the image inputs (the
        targets do not depend on orientation) and take the median, in the point
        prediction and in each MC pass. The median, not the mean: a view the network
        extrapolates from must not drag the estimate with it.

    Returns
    -------
    point, mean, std : numpy.ndarray
        (n, n_targets): dropout-free prediction, mean and standard deviation over T.
    """
    import keras

    from galstar.training.data import d4_transform

    if passes < 2:
        raise ValueError(f"MC dropout needs at least 2 passes, got {passes}")
    if tta not in TTA_VIEWS:
        raise ValueError(f"config evaluation.tta: unknown setting '{tta}'; "
                         f"choose one of {sorted(TTA_VIEWS)}")
    features, head = mc_dropout_parts(model)

    def predict(views, training):
        # Each view gets its own dropout mask.
        out = np.stack([keras.ops.convert_to_numpy(head(f, training=training))
                        for f in views]).astype(np.float64)
        return np.median(out, axis=0)

    def view(x, op):
        return {k: np.ascontiguousarray(d4_transform(v, op)) if v.ndim == 4 else v
                for k, v in x.items()}

    point, means, stds = [], [], []
    for x in batches:
        views = [keras.ops.convert_to_tensor(features.predict_on_batch(view(x, op)))
                 for op in range(TTA_VIEWS[tta])]
        point.append(predict(views, training=False))
        draws = np.stack([predict(views, training=dropout) for _ in range(passes)])
        means.append(draws.mean(axis=0))
        # Shifted by the first draw: identical draws give exactly zero spread.
        stds.append((draws - draws[0]).std(axis=0))
    return np.concatenate(point), np.concatenate(means), np.concatenate(stds)


def binned_sigma(truth: np.ndarray, sigma: np.ndarray, width: float = 0.5) -> pd.DataFrame:
    """Mean and standard deviation of the 1-sigma per ``width``-dex bin of the reference
    value (paper Fig. 9); bins are right-closed like the paper's (8.0, 8.5]."""
    truth, sigma = np.asarray(truth, float), np.asarray(sigma, float)
    lo = np.floor(truth.min() / width) * width
    edges = np.arange(lo, truth.max() + width, width)
    if edges[-1] < truth.max():
        edges = np.append(edges, edges[-1] + width)
    idx = np.clip(np.searchsorted(edges, truth, side="left") - 1, 0, len(edges) - 2)
    rows = []
    for i in range(len(edges) - 1):
        s = sigma[idx == i]
        rows.append({"bin_lo": edges[i], "bin_hi": edges[i + 1], "N": int(s.size),
                     "mean_sigma": float(s.mean()) if s.size else np.nan,
                     "std_sigma": float(s.std()) if s.size else np.nan})
    return pd.DataFrame(rows)
