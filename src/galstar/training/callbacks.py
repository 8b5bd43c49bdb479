"""Callbacks and batch-norm tools of the training loop (method-neutral).

Early stopping and learning-rate plateaus from the experiment's settings, per-epoch
timing and log lines, precise batch-norm statistics and weight averaging.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import keras
import numpy as np

__all__ = ["EpochTimer", "LogEpochs", "build_callbacks", "recalibrate_batchnorm",
           "PreciseBatchNorm", "WeightAverage"]

log = logging.getLogger("galstar.training")


class EpochTimer(keras.callbacks.Callback):
    """Record wall time per epoch and the learning rate, for the history table."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self.learning_rate: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)
        lr = self.model.optimizer.learning_rate
        self.learning_rate.append(float(keras.ops.convert_to_numpy(lr)))


class LogEpochs(keras.callbacks.Callback):
    """One log line per epoch (the job log, where Keras' progress bar does not go)."""

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        log.info("epoch %d: %s", epoch + 1,
                 ", ".join(f"{k} {float(v):.5g}" for k, v in sorted(logs.items())))


def build_callbacks(exp: Mapping[str, Any]) -> list[keras.callbacks.Callback]:
    """Early stopping (always) and ReduceLROnPlateau (when configured) from the experiment."""
    es = {"min_delta": 0.005, "patience": 5, **(exp.get("early_stopping") or {})}
    callbacks: list[keras.callbacks.Callback] = [
        keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=float(es["min_delta"]),
                                      patience=int(es["patience"]), restore_best_weights=True)
    ]
    plateau = exp.get("reduce_lr")
    if plateau:
        plateau = {"factor": 0.5, "patience": 2, "min_lr": 1e-6,
                   **(plateau if isinstance(plateau, Mapping) else {})}
        callbacks.append(keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss", factor=float(plateau["factor"]),
            patience=int(plateau["patience"]), min_lr=float(plateau["min_lr"])))
    return callbacks


def _batchnorm_layers(layer: keras.layers.Layer) -> list[keras.layers.BatchNormalization]:
    """Every batch-normalisation layer of ``layer``, nested models included."""
    if isinstance(layer, keras.layers.BatchNormalization):
        return [layer]
    return [bn for sub in getattr(layer, "layers", []) for bn in _batchnorm_layers(sub)]


def recalibrate_batchnorm(model: keras.Model, batches: Iterable[Any]) -> int:
    """Replace the moving batch-norm statistics by their average over ``batches``.

    The moving averages a from-scratch run ends with follow the last few dozen small
    batches, so they are noisy; a channel that rarely fires gets a tiny moving
    variance and, in inference mode, blows up on the rare images that excite it (on
    the mock: a few low-mass galaxies predicted many dex outside the label range).
    One forward pass over the training images with a cumulative momentum
    (k / (k + 1) at batch k) gives the population statistics instead ("precise BN",
    Wu & Johnson 2021). Weights are not touched; the head's dropout output is unused.

    Returns
    -------
    int
        Number of batches averaged (0 when the model has no batch normalisation).
    """
    layers = _batchnorm_layers(model)
    if not layers:
        return 0
    saved = [layer.momentum for layer in layers]
    k = 0
    try:
        for x in batches:
            for layer in layers:
                layer.momentum = k / (k + 1.0)
            model(x, training=True)
            k += 1
    finally:
        for layer, momentum in zip(layers, saved, strict=True):
            layer.momentum = momentum
    return k


class PreciseBatchNorm(keras.callbacks.Callback):
    """Recalibrate the batch-norm statistics before every validation pass.

    Early stopping then compares weights by what they will predict with population
    statistics, not by how lucky the last batches' moving averages were.

    Parameters
    ----------
    batches : callable
        No-argument function returning an iterable of training input batches.
    """

    def __init__(self, batches: Callable[[], Iterable[Any]]):
        super().__init__()
        self.batches = batches

    def on_test_begin(self, logs=None):
        recalibrate_batchnorm(self.model, self.batches())


class WeightAverage(keras.callbacks.Callback):
    """Running average of the weights from the best epoch onward (stochastic weight
    averaging, Izmailov et al. 2018, over the epochs early stopping waits through).

    Training from scratch on a few thousand images, the weights of single epochs
    scatter around a flat region of the loss; their average usually generalises
    better than any of them. The average restarts whenever early stopping records a
    new best epoch, so it covers the best epoch and the ones after it. Batch-norm
    statistics of averaged weights are meaningless: recompute them
    (:func:`recalibrate_batchnorm`) before use.

    Parameters
    ----------
    stopper : keras.callbacks.EarlyStopping
        The run's early stopping; must come before this callback in the list.
    """

    def __init__(self, stopper: keras.callbacks.EarlyStopping):
        super().__init__()
        self.stopper = stopper
        self.total: list[np.ndarray] | None = None
        self.count = 0
        self.first_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        weights = self.model.get_weights()
        if self.total is None or self.stopper.best_epoch == epoch:
            self.total = [np.array(w, dtype=np.float64) for w in weights]
            self.count, self.first_epoch = 1, epoch
            return
        for total, w in zip(self.total, weights, strict=True):
            total += w
        self.count += 1

    def averaged(self) -> list[np.ndarray]:
        """The averaged weights, in the model's dtypes (integer state: the latest)."""
        if self.total is None:
            raise RuntimeError("no epoch has ended: nothing to average")
        current = self.model.get_weights()
        return [(t / self.count).astype(w.dtype) if np.issubdtype(w.dtype, np.floating)
                else w for t, w in zip(self.total, current, strict=True)]
