"""Compile and fit a built model on named-input splits; save model, scaler, history.

Method-neutral: the caller builds the model (``galstar.models``) and the splits
(``galstar.training.data``); this module chooses the loss by name, runs early stopping
(best weights restored), optional ReduceLROnPlateau, precise batch norm and weight
averaging, and writes the four outputs of a trained experiment atomically.
Backend-neutral: only ``keras`` APIs are used here.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import keras
import numpy as np
import pandas as pd
import yaml

from galstar.io import atomic_path
from galstar.training.callbacks import (
    EpochTimer,
    LogEpochs,
    PreciseBatchNorm,
    WeightAverage,
    build_callbacks,
    recalibrate_batchnorm,
)
from galstar.training.data import Split, iter_batches, make_dataset, repeat_for_fit
from galstar.training.device import (
    describe_device,
    precision_policy,
    precision_scope,
    seed_everything,
)
from galstar.training.losses import get_loss
from galstar.training.optimizers import build_optimizer
from galstar.training.scaler import fit_scaler, load_scaler

__all__ = ["fit_model", "train_model", "init_weights", "plain"]

log = logging.getLogger(__name__)


def fit_model(model: keras.Model, train_ds, val_ds, *, epochs: int, learning_rate: float,
              loss: keras.losses.Loss | None = None,
              callbacks: Sequence[keras.callbacks.Callback] = (), n_train: int | None = None,
              verbose: int = 2, optimizer: keras.optimizers.Optimizer | None = None
              ) -> pd.DataFrame:
    """Compile with ``loss`` (default MAE) and ``optimizer`` (default Adam at
    ``learning_rate``), fit, and return the per-epoch history.

    Returns
    -------
    pandas.DataFrame
        epoch, loss, val_loss, mae, val_mae (scaled units, without the L2 penalty),
        kept (the epoch whose weights the model holds), learning_rate, seconds (the
        whole epoch) and (if ``n_train``) images_per_s (objects per second of the
        epoch's training steps, validation excluded). With ``n_train``,
        ``frame.attrs["images_per_s"]`` is the run's training throughput without its
        first, graph-tracing step (:meth:`EpochTimer.steady_rate`).
    """
    model.compile(optimizer=optimizer or keras.optimizers.Adam(learning_rate=learning_rate),
                  loss=loss or keras.losses.MeanAbsoluteError(),
                  # the loss includes the L2 penalty; the MAE alone tracks the fit itself
                  metrics=[keras.metrics.MeanAbsoluteError(name="mae")])
    timer = EpochTimer()
    # shuffle=False: the dataset reshuffles itself (globally, across shards) every epoch.
    # Validation stays finite: evaluate() makes a new iterator every pass whatever it is.
    train_in, train_steps = repeat_for_fit(train_ds)
    hist = model.fit(train_in, steps_per_epoch=train_steps, validation_data=val_ds,
                     epochs=epochs, shuffle=False,
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
        train_seconds = np.asarray(timer.train_seconds[: len(frame)], dtype=float)
        with np.errstate(divide="ignore"):
            frame["images_per_s"] = np.where(train_seconds > 0, n_train / train_seconds,
                                             np.nan)
        frame.attrs["images_per_s"] = timer.steady_rate(n_train)
    return frame


def train_model(
    build_model: Callable[[Split], keras.Model],
    train: Split,
    val: Split,
    experiment: Mapping[str, Any],
    *,
    seed: int,
    model_path: str | os.PathLike,
    scaler_path: str | os.PathLike,
    history_path: str | os.PathLike,
    config_path: str | os.PathLike,
    run_info: Mapping[str, Any] | None = None,
    init_model_path: str | os.PathLike | None = None,
    init_scaler_path: str | os.PathLike | None = None,
    verbose: int = 2,
) -> dict[str, Any]:
    """Train one experiment end to end and write its four outputs atomically.

    Parameters
    ----------
    build_model : callable
        ``build_model(train) -> keras.Model`` (uncompiled); called under the run's
        precision policy, after the seeds are set.
    train, val : Split
        Training and validation objects; ``train.sample_weight`` weights the loss.
    experiment : mapping
        The resolved experiment: epochs, batch_size, learning_rate, loss, huber_delta,
        optimizer, weight_decay, lr_schedule (:mod:`galstar.training.optimizers`),
        scaler, augment, early_stopping, reduce_lr, precise_bn, average_weights,
        mixed_precision, deterministic.
    seed : int
        Master seed (config ``seed``); fixes weights init, shuffling and augmentation.
    model_path, scaler_path, history_path, config_path : paths
        ``model.keras``, ``scaler.json``, ``history.csv``, ``config.yaml``.
    run_info : mapping, optional
        Method facts recorded in ``config.yaml`` under ``run`` (e.g. an input scale).
    init_model_path, init_scaler_path : path, optional
        Warm start (experiment key ``init_from``): the built model takes the weights of
        every layer of this saved model with the same name and weight shapes
        (:func:`init_weights`), and the labels are scaled with its scaler instead of
        one fitted on ``train``, so that its outputs keep their meaning.

    Returns
    -------
    dict
        What was written to ``config.yaml`` besides the experiment: device, precision,
        sample sizes, best epoch and validation loss.
    """
    name = experiment.get("name", "<experiment>")
    seed_everything(seed, bool(experiment.get("deterministic", False)))
    if len(train) == 0:
        raise ValueError(f"experiment {name}: no kept training objects")
    if len(val) == 0:
        raise ValueError(f"experiment {name}: the validation split is empty")

    device = describe_device()
    policy = precision_policy(experiment.get("mixed_precision", "auto"),
                              device["device"] == "gpu")
    log.info("experiment %s: training on %s (%s, backend %s), precision %s, %d train / %d val",
             name, device["device"], device["name"], device["backend"], policy,
             len(train), len(val))

    if init_scaler_path is not None:
        scaler = load_scaler(init_scaler_path)
        if tuple(scaler.targets) != tuple(train.targets):
            raise ValueError(f"experiment {name}: init_from scaler {init_scaler_path} has "
                             f"targets {list(scaler.targets)}, not {list(train.targets)}")
    else:
        scaler = fit_scaler(str(experiment.get("scaler", "minmax")), train.labels,
                            train.targets)
    batch_size = int(experiment["batch_size"])
    train_ds = make_dataset(train, scaler.transform(train.labels), batch_size, shuffle=True,
                            augment=bool(experiment.get("augment", False)), seed=seed)
    val_ds = make_dataset(val, scaler.transform(val.labels), batch_size, shuffle=False,
                          weighted=False)

    with precision_scope(policy):
        model = build_model(train)
        if init_model_path is not None:
            copied = init_weights(model, init_model_path)
            log.info("experiment %s: %d layers start from %s", name, len(copied),
                     init_model_path)
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
        # training batches per epoch (make_dataset drops a partial last one)
        steps = len(train) // batch_size if len(train) > batch_size else 1
        history = fit_model(model, train_ds, val_ds, epochs=int(experiment["epochs"]),
                            learning_rate=float(experiment["learning_rate"]),
                            loss=get_loss(experiment), callbacks=callbacks,
                            n_train=len(train), verbose=verbose,
                            optimizer=build_optimizer(experiment, steps))
        kept = {"weights": "best_epoch"}
        if n_precise > 0 or averager is not None:
            all_batches = _bn_batches(train, batch_size, len(train))
            if averager is not None:
                kept = _choose_weights(model, averager, all_batches, val_ds)
            else:
                # On the weights early stopping kept, from every training object (some
                # backends also restore the training-time statistics with the weights).
                recalibrate_batchnorm(model, all_batches())
            log.info("batch-norm statistics: average over all %d training objects", len(train))
        with atomic_path(model_path) as tmp:
            model.save(tmp)

    scaler.to_json(scaler_path)
    with atomic_path(history_path) as tmp:
        history.to_csv(tmp, index=False)
    best = int(np.flatnonzero(history["kept"])[0])
    summary = {
        "device": device, "precision": policy, "seed": int(seed),
        "n_train": len(train), "n_val": len(val), **plain(dict(run_info or {})),
        "epochs_run": len(history), "best_epoch": int(history["epoch"][best]),
        "best_val_loss": float(history["val_loss"][best]),
        "train_images_per_s": float(history.attrs["images_per_s"]),
        **kept,
        **({"init_from": str(init_model_path)} if init_model_path is not None else {}),
    }
    with atomic_path(config_path) as tmp:
        tmp.write_text(yaml.safe_dump({"experiment": plain(experiment), "run": summary},
                                      sort_keys=False))
    log.info("experiment %s: %d epochs, best val_loss %.4f at epoch %d, training %.4g "
             "images/s", name, summary["epochs_run"], summary["best_val_loss"],
             summary["best_epoch"], summary["train_images_per_s"])
    return summary


def init_weights(model: keras.Model, source_path: str | os.PathLike) -> list[str]:
    """Copy into ``model`` the weights of every layer of the saved model ``source_path``
    that has the same name and the same weight shapes; return the copied layers' names.

    Raises
    ------
    ValueError
        If the source cannot be loaded or no layer matches (a different architecture).
    """
    try:
        source = keras.saving.load_model(source_path, compile=False)
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot load init_from model {source_path}: {err}") from err
    by_name = {layer.name: layer for layer in source.layers}
    copied = []
    for layer in model.layers:
        other = by_name.get(layer.name)
        weights = layer.get_weights()
        if other is None or not weights:
            continue
        theirs = other.get_weights()
        if [w.shape for w in theirs] == [w.shape for w in weights]:
            layer.set_weights(theirs)
            if hasattr(layer, "finalize_state"):  # Normalization: mean/variance from weights
                layer.finalize_state()
            copied.append(layer.name)
    if not copied:
        raise ValueError(f"init_from model {source_path} shares no layer (same name and "
                         f"shapes) with model {model.name}")
    return copied


def _choose_weights(model: keras.Model, averager: WeightAverage,
                    batches: Callable[[], Iterable[Any]], val_ds) -> dict[str, Any]:
    """Keep the best epoch's weights or the average, whichever has the lower validation
    MAE (each with batch-norm statistics recomputed from the training objects)."""
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


def _bn_batches(train: Split, batch_size: int, n_objects: int) -> Callable[[], Iterable[Any]]:
    """Unaugmented training batches for :func:`recalibrate_batchnorm`.

    Batches have the training batch size, so each batch's variance is the one the
    network was trained with; a fixed random subset of ``n_objects`` (not the first
    rows, which would all come from one shard).
    """
    index = np.arange(len(train))
    if n_objects < len(train):
        index = np.sort(np.random.default_rng(0).choice(len(train), n_objects, replace=False))
    subset = train.subset(index)
    return lambda: iter_batches(subset, batch_size)


def plain(value: Any) -> Any:
    """Config values as plain YAML-safe Python objects."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
