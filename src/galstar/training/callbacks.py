"""Callbacks and batch-norm tools of the training loop (method-neutral).

Early stopping and learning-rate plateaus from the experiment's settings, per-epoch
timing and log lines, precise batch-norm statistics and weight averaging.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import keras
import numpy as np

__all__ = ["EpochTimer", "LogEpochs", "build_callbacks", "recalibrate_batchnorm",
           "PreciseBatchNorm", "WeightAverage"]

log = logging.getLogger("galstar.training")


class EpochTimer(keras.callbacks.Callback):
    """Record wall time per epoch, the time of its training steps, and the learning rate.

    Attributes
    ----------
    seconds : list of float
        Wall time of each epoch [s], validation and callbacks included.
    train_seconds : list of float
        Time spent in the epoch's training steps [s] (no validation, no precise-BN
        passes).
    steps : list of int
        Training steps (batches) per epoch.
    steady : list of (int, float)
        Per epoch, the steps after the run's first one and their time [s]: the first
        step traces and compiles the graph (tens of seconds for EfficientNet), which
        says nothing about throughput.
    learning_rate : list of float
    """

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self.train_seconds: list[float] = []
        self.steps: list[int] = []
        self.steady: list[tuple[int, float]] = []
        self.learning_rate: list[float] = []
        self._batches: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._batches = []

    def on_train_batch_begin(self, batch, logs=None):
        self._batch_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self._batches.append(time.perf_counter() - self._batch_start)

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)
        self.train_seconds.append(float(sum(self._batches)))
        self.steps.append(len(self._batches))
        timed = self._batches[1:] if not self.steady else self._batches
        self.steady.append((len(timed), float(sum(timed))))
        lr = self.model.optimizer.learning_rate
        self.learning_rate.append(float(keras.ops.convert_to_numpy(lr)))

    def steady_rate(self, n_objects: int) -> float:
        """Training throughput [objects/s] over the run, without its first step.

        ``n_objects`` objects pass per epoch; epochs count by the share of their steps
        that were timed. Falls back to the whole first epoch when it had one step only.
        """
        objects = sum(n_objects * n / total for (n, _), total in zip(self.steady, self.steps,
                                                                     strict=True) if total)
        seconds = sum(sec for _, sec in self.steady)
        if objects > 0 and seconds > 0:
            return objects / seconds
        total = sum(self.train_seconds)
        return n_objects * len(self.train_seconds) / total if total > 0 else float("nan")


class LogEpochs(keras.callbacks.Callback):
    """One log line per epoch (the job log, where Keras' progress bar does not go)."""

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        log.info("epoch %d: %s", epoch + 1,
                 ", ".join(f"{k} {float(v):.5g}" for k, v in sorted(logs.items())))


def build_callbacks(exp: Mapping[str, Any], patience_scale: float = 1.0
                    ) -> list[keras.callbacks.Callback]:
    """Early stopping (always) and ReduceLROnPlateau (when configured) from the experiment.

    ``patience_scale`` (>= 1 applies) multiplies both patiences, rounded up: for epochs
    shorter than the ones the configured patience was chosen for (a subset of the data).
    """
    scale = max(1.0, float(patience_scale))
    es = {"min_delta": 0.005, "patience": 5, **(exp.get("early_stopping") or {})}
    callbacks: list[keras.callbacks.Callback] = [
        keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=float(es["min_delta"]),
                                      patience=math.ceil(int(es["patience"]) * scale),
                                      restore_best_weights=True)
    ]
    plateau = exp.get("reduce_lr")
    if plateau:
        plateau = {"factor": 0.5, "patience": 2, "min_lr": 1e-6,
                   **(plateau if isinstance(plateau, Mapping) else {})}
        callbacks.append(keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss", factor=float(plateau["factor"]),
            patience=math.ceil(int(plateau["patience"]) * scale),
            min_lr=float(plateau["min_lr"])))
    return callbacks


def _sublayers(layer: keras.layers.Layer) -> list[keras.layers.Layer]:
    """``layer`` and every layer inside it, nested models included."""
    return [layer] + [s for sub in getattr(layer, "layers", []) for s in _sublayers(sub)]


def _batchnorm_layers(layer: keras.layers.Layer) -> list[keras.layers.BatchNormalization]:
    """Every batch-normalisation layer of ``layer``, nested models included."""
    return [s for s in _sublayers(layer) if isinstance(s, keras.layers.BatchNormalization)]


#: Layers random in training mode, and the attribute that switches their noise off.
#: Dropout covers its subclasses (SpatialDropout*) and the stochastic depth of
#: keras.applications' EfficientNets (``Dropout`` with ``noise_shape=(None, 1, 1, 1)``).
_NOISE_LAYERS: tuple[tuple[type, str], ...] = (
    (keras.layers.Dropout, "rate"),
    (keras.layers.GaussianDropout, "rate"),
    (keras.layers.AlphaDropout, "rate"),
    (keras.layers.GaussianNoise, "stddev"),
)


@contextlib.contextmanager
def _noise_off(model: keras.Model) -> Iterator[None]:
    """Run ``model``'s dropout and noise layers as in inference, for the block's calls.

    Keras has no per-layer training flag, so the rates are set to 0 and put back.
    Other layers that draw random numbers in training mode (e.g. augmentation layers
    inside the model) are named in a warning: their noise enters the statistics.
    """
    changed: list[tuple[keras.layers.Layer, str, Any]] = []
    for layer in _sublayers(model):
        attr = next((a for cls, a in _NOISE_LAYERS if isinstance(layer, cls)), None)
        if attr is not None:
            changed.append((layer, attr, getattr(layer, attr)))
            setattr(layer, attr, 0.0)
        elif getattr(layer, "_seed_generators", None) and not hasattr(layer, "layers"):
            log.warning("batch-norm recalibration: layer %s draws random numbers in "
                        "training mode; its noise enters the statistics", layer.name)
    try:
        yield
    finally:
        for layer, attr, value in changed:
            setattr(layer, attr, value)


def _batch_size(batch: Any) -> int:
    """Objects in one batch (a dict of named inputs, a tuple or an array)."""
    return int(keras.ops.shape(keras.tree.flatten(batch)[0])[0])


def recalibrate_batchnorm(model: keras.Model, batches: Iterable[Any]) -> int:
    """Replace the moving batch-norm statistics by their average over ``batches``.

    The moving averages a from-scratch run ends with follow the last few dozen small
    batches, so they are noisy; a channel that rarely fires gets a tiny moving
    variance and, in inference mode, blows up on the rare images that excite it (on
    the mock: a few low-mass galaxies predicted many dex outside the label range).
    One forward pass over the training images gives the population statistics instead
    ("precise BN", Wu & Johnson 2021): each batch runs at momentum 0, so that the
    layers hold its own statistics, and their average is weighted by batch size, so
    every object counts once (a short last batch does not weigh as much as a full
    one). The forward pass compiles once per model (:func:`_training_forward`).

    The passes are a function of the weights and the batches only, so the same
    weights recalibrated twice give the same statistics and the same validation
    score. Only the batch-norm layers run in training mode: dropout, EfficientNet's
    stochastic depth and noise layers are switched off, otherwise each pass draws
    new masks and the batch norms after them (every block after a dropped residual
    branch) collect random statistics of activations that inference never sees
    (one-epoch runs of GalEffNet read validation MAE 178 and 278 for the same
    weights). The previous moving statistics are discarded (even NaN ones); weights
    are not touched.

    Returns
    -------
    int
        Number of batches averaged (0 when the model has no batch normalisation or
        ``batches`` is empty; the statistics are then left as they were).
    """
    layers = _batchnorm_layers(model)
    if not layers:
        return 0
    saved = [layer.momentum for layer in layers]
    means: list[np.ndarray] = []
    variances: list[np.ndarray] = []
    k, seen = 0, 0
    try:
        with _noise_off(model):
            for layer in layers:
                layer.momentum = 0.0
            forward = _training_forward(model)
            for x in batches:
                size = _batch_size(x)
                if k == 0:  # 0 x NaN is NaN: stale statistics must not reach the first batch
                    for layer in layers:
                        layer.moving_mean.assign(keras.ops.zeros_like(layer.moving_mean))
                        layer.moving_variance.assign(
                            keras.ops.ones_like(layer.moving_variance))
                forward(x)
                batch_means = [_numpy64(layer.moving_mean) for layer in layers]
                batch_vars = [_numpy64(layer.moving_variance) for layer in layers]
                if k == 0:
                    means, variances = batch_means, batch_vars
                else:
                    w = size / float(seen + size)
                    means = [m + w * (b - m) for m, b in zip(means, batch_means, strict=True)]
                    variances = [v + w * (b - v)
                                 for v, b in zip(variances, batch_vars, strict=True)]
                k, seen = k + 1, seen + size
        if k:
            for layer, mean, var in zip(layers, means, variances, strict=True):
                layer.moving_mean.assign(mean.astype(layer.moving_mean.dtype))
                layer.moving_variance.assign(var.astype(layer.moving_variance.dtype))
    finally:
        for layer, momentum in zip(layers, saved, strict=True):
            layer.momentum = momentum
    return k


def _numpy64(variable) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(variable), dtype=np.float64)


#: model -> its compiled ``model(x, training=True)`` (TensorFlow), see _training_forward.
_FORWARDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _training_forward(model: keras.Model) -> Callable[[Any], Any]:
    """``model(x, training=True)``, compiled once per model on TensorFlow.

    Eager calls cost GalEffNet 0.9 s per batch of 64 at 64 px on one core, the compiled
    pass 0.25 s. The trace fixes what it read from Python attributes: momentum 0 and the
    noise switched off, as :func:`recalibrate_batchnorm` always sets them; the variables
    are captured by reference, so new weights need no new trace. The function holds the
    model weakly, so the cache never keeps a model alive. Other backends call the model
    eagerly.
    """
    if keras.backend.backend() != "tensorflow":
        return lambda x: model(x, training=True)
    forward = _FORWARDS.get(model)
    if forward is None:
        import tensorflow as tf

        ref = weakref.ref(model)
        forward = tf.function(lambda x: ref()(x, training=True), reduce_retracing=True)
        _FORWARDS[model] = forward
    return forward


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
