"""Compile and fit GalEffNet on the preprocessed shards; save model, scaler, history.

MAE loss on the min-max scaled labels, Adam, early stopping on the validation loss
(best weights restored), optional ReduceLROnPlateau, fixed seeds, mixed precision
when a GPU is present. Backend-neutral: only ``keras`` APIs are used here.
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import keras
import numpy as np
import pandas as pd
import yaml

from galstar.io import atomic_path
from galstar.training.data import ShardSplit, iter_batches, load_split, make_dataset, pixel_scale
from galstar.training.experiments import task_targets
from galstar.training.scaler import MinMaxScaler

__all__ = ["describe_device", "precision_policy", "build_callbacks", "fit_model",
           "recalibrate_batchnorm", "PreciseBatchNorm", "WeightAverage", "train_experiment"]

log = logging.getLogger(__name__)


def describe_device() -> dict[str, Any]:
    """Which accelerator Keras will use: backend, device kind and name."""
    try:
        devices = keras.distribution.list_devices()
    except (NotImplementedError, RuntimeError, ValueError):  # backends without the API
        devices = ["cpu:0"]
    gpus = [d for d in devices if d.lower().startswith("gpu")]
    name = platform.processor() or platform.machine()
    if gpus and shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=20, check=True)
            name = out.stdout.strip().splitlines()[0]
        except (subprocess.SubprocessError, IndexError, OSError):
            name = gpus[0]
    return {"backend": keras.backend.backend(), "device": "gpu" if gpus else "cpu",
            "n_devices": len(gpus) or 1, "name": name, "cpu_count": os.cpu_count()}


def precision_policy(setting: str | bool, gpu: bool) -> str:
    """Resolve config ``mixed_precision`` (auto | float16 | bfloat16 | off) to a policy."""
    setting = str(setting).lower()
    if setting in ("off", "false", "none", "float32"):
        return "float32"
    if setting == "auto":
        return "mixed_float16" if gpu else "float32"
    if setting in ("float16", "mixed_float16", "true"):
        return "mixed_float16"
    if setting in ("bfloat16", "bf16", "mixed_bfloat16"):
        return "mixed_bfloat16"
    raise ValueError(f"config training.mixed_precision: unknown setting '{setting}'")


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


def fit_model(model: keras.Model, train_ds, val_ds, *, epochs: int, learning_rate: float,
              callbacks: Sequence[keras.callbacks.Callback] = (), n_train: int | None = None,
              verbose: int = 2) -> pd.DataFrame:
    """Compile with MAE and Adam, fit, and return the per-epoch history.

    Returns
    -------
    pandas.DataFrame
        epoch, loss, val_loss, mae, val_mae (scaled units, without the L2 penalty),
        kept (the epoch whose weights the model holds), learning_rate, seconds and (if
        ``n_train``) images_per_s.
    """
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                  loss=keras.losses.MeanAbsoluteError(),
                  # the loss includes the L2 penalty; the MAE alone tracks the fit itself
                  metrics=[keras.metrics.MeanAbsoluteError(name="mae")])
    timer = EpochTimer()
    # shuffle=False: the dataset reshuffles itself (globally, across shards) every epoch.
    hist = model.fit(train_ds, validation_data=val_ds, epochs=epochs, shuffle=False,
                     callbacks=[*callbacks, timer, LogEpochs()], verbose=verbose)
    frame = pd.DataFrame({k: np.asarray(v, dtype=float) for k, v in hist.history.items()
                          if k in ("loss", "val_loss", "mae", "val_mae")})
    frame.insert(0, "epoch", np.arange(1, len(frame) + 1))
    # Early stopping restores the last epoch that beat the best by min_delta, which need
    # not be the minimum of val_loss: record which epoch's weights the model holds.
    stopper = next((c for c in callbacks if isinstance(c, keras.callbacks.EarlyStopping)), None)
    kept = int(frame["val_loss"].idxmin()) if stopper is None else int(stopper.best_epoch)
    frame["kept"] = frame.index == kept
    frame["learning_rate"] = timer.learning_rate[: len(frame)]
    frame["seconds"] = timer.seconds[: len(frame)]
    if n_train:
        frame["images_per_s"] = n_train / frame["seconds"]
    return frame


def _batchnorm_layers(layer: keras.layers.Layer) -> list[keras.layers.BatchNormalization]:
    """Every batch-normalisation layer of ``layer``, nested models included."""
    if isinstance(layer, keras.layers.BatchNormalization):
        return [layer]
    return [bn for sub in getattr(layer, "layers", []) for bn in _batchnorm_layers(sub)]


def recalibrate_batchnorm(model: keras.Model, batches: Iterable[np.ndarray]) -> int:
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
        No-argument function returning an iterable of training image batches.
    """

    def __init__(self, batches: Callable[[], Iterable[np.ndarray]]):
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


def train_experiment(
    tables: Sequence[str | os.PathLike],
    images: Sequence[str | os.PathLike],
    experiment: Mapping[str, Any],
    *,
    seed: int,
    model_path: str | os.PathLike,
    scaler_path: str | os.PathLike,
    history_path: str | os.PathLike,
    config_path: str | os.PathLike,
    verbose: int = 2,
) -> dict[str, Any]:
    """Train one experiment end to end and write its four outputs atomically.

    Parameters
    ----------
    tables, images : sequences of paths
        Shard tables and the experiment's ``<bands>-<resolution>`` tensors.
    experiment : mapping
        One entry of :func:`galstar.training.experiments.expand_experiments`.
    seed : int
        Master seed (config ``seed``); fixes weights init, shuffling and augmentation.
    model_path, scaler_path, history_path, config_path : paths
        ``model.keras``, ``scaler.json``, ``history.csv``, ``config.yaml``.

    Returns
    -------
    dict
        What was written to ``config.yaml`` besides the experiment: device, precision,
        sample sizes, best epoch and validation loss.
    """
    name = experiment.get("name", "<experiment>")
    keras.utils.set_random_seed(seed)
    targets = task_targets(experiment["task"])
    train = load_split(tables, images, "train", targets)
    val = load_split(tables, images, "val", targets)
    _check_images(train, experiment, name, images)
    if len(val) == 0:
        raise ValueError(f"experiment {name}: the validation split is empty")

    device = describe_device()
    policy = precision_policy(experiment.get("mixed_precision", "auto"),
                              device["device"] == "gpu")
    log.info("experiment %s: training on %s (%s, backend %s), precision %s, %d train / %d val",
             name, device["device"], device["name"], device["backend"], policy,
             len(train), len(val))

    scaler = MinMaxScaler.fit(train.labels, targets)
    batch_size = int(experiment["batch_size"])
    train_ds = make_dataset(train, scaler.transform(train.labels), batch_size, shuffle=True,
                            augment=bool(experiment.get("augment", False)), seed=seed)
    val_ds = make_dataset(val, scaler.transform(val.labels), batch_size, shuffle=False)
    input_scale = pixel_scale(train, seed=seed)

    previous = keras.config.dtype_policy().name
    keras.mixed_precision.set_global_policy(policy)
    try:
        from galstar.models.galeffnet import build_galeffnet

        model = build_galeffnet(
            experiment["backbone"], input_shape=train.image_shape, n_outputs=len(targets),
            weights=experiment["weights"], dropout=float(experiment["dropout"]),
            dense_units=int(experiment.get("dense_units", 1024)),
            l2=float(experiment.get("l2", 1e-3)), input_scale=input_scale,
            bn_momentum=experiment.get("bn_momentum"))
        callbacks = build_callbacks(experiment)
        n_precise = int(experiment.get("precise_bn") or 0)
        if n_precise > 0:
            callbacks.insert(0, PreciseBatchNorm(_bn_batches(train, batch_size, n_precise)))
        averager = None
        if experiment.get("average_weights"):
            stopper = next(c for c in callbacks
                           if isinstance(c, keras.callbacks.EarlyStopping))
            averager = WeightAverage(stopper)
            callbacks.insert(callbacks.index(stopper) + 1, averager)
        history = fit_model(model, train_ds, val_ds, epochs=int(experiment["epochs"]),
                            learning_rate=float(experiment["learning_rate"]),
                            callbacks=callbacks, n_train=len(train), verbose=verbose)
        kept = {"weights": "best_epoch"}
        if n_precise > 0 or averager is not None:
            all_batches = _bn_batches(train, batch_size, len(train))
            if averager is not None:
                kept = _choose_weights(model, averager, all_batches, val_ds)
            else:
                # On the weights early stopping kept, from every training image (some
                # backends also restore the training-time statistics with the weights).
                recalibrate_batchnorm(model, all_batches())
            log.info("batch-norm statistics: average over all %d training images", len(train))
        with atomic_path(model_path) as tmp:
            model.save(tmp)
    finally:
        keras.mixed_precision.set_global_policy(previous)

    scaler.to_json(scaler_path)
    with atomic_path(history_path) as tmp:
        history.to_csv(tmp, index=False)
    best = int(np.flatnonzero(history["kept"])[0])
    summary = {
        "device": device, "precision": policy, "seed": int(seed),
        "n_train": len(train), "n_val": len(val), "input_scale": input_scale,
        "epochs_run": len(history), "best_epoch": int(history["epoch"][best]),
        "best_val_loss": float(history["val_loss"][best]),
        "train_images_per_s": float(np.median(history["images_per_s"])),
        **kept,
    }
    with atomic_path(config_path) as tmp:
        tmp.write_text(yaml.safe_dump({"experiment": _plain(experiment), "run": summary},
                                      sort_keys=False))
    log.info("experiment %s: %d epochs, best val_loss %.4f at epoch %d, %.0f images/s",
             name, summary["epochs_run"], summary["best_val_loss"], summary["best_epoch"],
             summary["train_images_per_s"])
    return summary


def _choose_weights(model: keras.Model, averager: WeightAverage,
                    batches: Callable[[], Iterable[np.ndarray]], val_ds) -> dict[str, Any]:
    """Keep the best epoch's weights or the average, whichever has the lower validation
    MAE (each with batch-norm statistics recomputed from the training images)."""
    candidates = {"best_epoch": model.get_weights(), "averaged": averager.averaged()}
    val_mae = {}
    for name, weights in candidates.items():
        model.set_weights(weights)
        recalibrate_batchnorm(model, batches())
        val_mae[name] = float(model.evaluate(val_ds, verbose=0, return_dict=True)["mae"])
        candidates[name] = model.get_weights()  # with its recomputed statistics
    choice = min(val_mae, key=val_mae.get)
    model.set_weights(candidates[choice])
    first, n = averager.first_epoch + 1, averager.count
    log.info("weights: %s (validation MAE %.4f best epoch, %.4f average of epochs %d-%d)",
             choice, val_mae["best_epoch"], val_mae["averaged"], first, first + n - 1)
    return {"weights": choice, "val_mae_best_epoch": val_mae["best_epoch"],
            "val_mae_averaged": val_mae["averaged"], "averaged_epochs": [first, first + n - 1]}


def _bn_batches(train: ShardSplit, batch_size: int, n_images: int
                ) -> Callable[[], Iterable[np.ndarray]]:
    """Unaugmented training batches for :func:`recalibrate_batchnorm`.

    Batches have the training batch size, so each batch's variance is the one the
    network was trained with; a fixed random subset of ``n_images`` (not the first
    rows, which would all come from one shard).
    """
    index = np.arange(len(train))
    if n_images < len(train):
        index = np.sort(np.random.default_rng(0).choice(len(train), n_images, replace=False))
    subset = train.subset(index)
    return lambda: iter_batches(subset, batch_size)


def _check_images(train: ShardSplit, experiment: Mapping[str, Any], name: str,
                  images: Sequence[str | os.PathLike]) -> None:
    if len(train) == 0:
        raise ValueError(f"experiment {name}: no kept training objects in the shards")
    res = int(experiment["resolution"])
    if train.image_shape[:2] != (res, res):
        raise ValueError(f"config experiments.{name}.resolution is {res} but {images[0]} "
                         f"holds {train.image_shape[0]}x{train.image_shape[1]} images")


def _plain(value: Any) -> Any:
    """Config values as plain YAML-safe Python objects."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
