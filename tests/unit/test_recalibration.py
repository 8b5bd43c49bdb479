"""Batch-norm recalibration is a function of the weights and the batches only.

Recalibrating the same weights twice must give the same statistics and the same
validation score: the passes run in training mode for the batch-norm layers alone
(dropout and stochastic depth off), and each batch counts by its number of objects.
The training summary reports the measured throughput of the training steps.
"""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd
import pytest

keras = pytest.importorskip("keras")

from galstar.training.callbacks import EpochTimer, recalibrate_batchnorm  # noqa: E402

N, SIZE = 40, 8


def _data(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(1.0, 2.0, size=(N, SIZE, SIZE, 2)).astype("float32")
    y = np.stack([x.mean(axis=(1, 2, 3)), x[..., 0].std(axis=(1, 2))], 1).astype("float32")
    return x, y


def _model(seed: int = 3) -> keras.Model:
    """Conv + batch norm with an EfficientNet-style stochastic-depth branch and a head
    dropout: the batch norm after the residual add sees the dropped branch."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((SIZE, SIZE, 2), name="image")
    h = keras.layers.BatchNormalization(name="bn_input")(inputs)
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(h)
    branch = keras.layers.Conv2D(4, 3, padding="same")(h)
    branch = keras.layers.BatchNormalization(name="bn_branch")(branch)
    branch = keras.layers.Dropout(0.5, noise_shape=(None, 1, 1, 1), name="drop_connect")(branch)
    h = keras.layers.Add()([h, branch])
    h = keras.layers.BatchNormalization(name="bn_after")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    h = keras.layers.Dropout(0.3, name="head_dropout")(h)
    h = keras.layers.GaussianNoise(0.5)(h)
    model = keras.Model(inputs, keras.layers.Dense(2)(h))
    model.compile(optimizer="adam", loss="mae", metrics=[keras.metrics.MeanAbsoluteError(
        name="mae")])
    return model


def _batches(x, batch_size=16):
    return [{"image": x[i:i + batch_size]} for i in range(0, len(x), batch_size)]


def _stats(model):
    return {layer.name: (keras.ops.convert_to_numpy(layer.moving_mean).copy(),
                         keras.ops.convert_to_numpy(layer.moving_variance).copy())
            for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)}


def test_same_weights_recalibrated_twice_give_the_same_score():
    x, y = _data()
    model = _model()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)  # weights a bit away from init
    weights = model.get_weights()
    scores, stats = [], []
    for _ in range(3):
        model.set_weights(weights)
        assert recalibrate_batchnorm(model, iter(_batches(x))) == 3
        stats.append(_stats(model))
        scores.append(model.evaluate(x, y, verbose=0, return_dict=True)["mae"])
    assert scores[0] == scores[1] == scores[2]
    for name in stats[0]:
        for a, b in zip(stats[0][name], stats[1][name], strict=True):
            np.testing.assert_array_equal(a, b)
    # the noise layers are back at their rates for training, and the momentum too
    assert model.get_layer("drop_connect").rate == 0.5
    assert model.get_layer("head_dropout").rate == 0.3
    assert model.layers[-2].stddev == 0.5
    assert model.get_layer("bn_after").momentum == 0.99


def test_recalibration_weights_batches_by_their_size():
    x, _ = _data(1)
    model = _model()
    recalibrate_batchnorm(model, iter(_batches(x)))  # 16, 16 and 8 objects
    mean, var = _stats(model)["bn_input"]
    np.testing.assert_allclose(mean, x.mean(axis=(0, 1, 2)), rtol=1e-5)
    per_batch = [b["image"].var(axis=(0, 1, 2)) * len(b["image"]) for b in _batches(x)]
    np.testing.assert_allclose(var, np.sum(per_batch, 0) / N, rtol=1e-5)


def test_recalibration_ignores_the_previous_statistics():
    x, _ = _data(2)
    model = _model()
    recalibrate_batchnorm(model, iter(_batches(x)))
    want = _stats(model)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_variance.assign(np.full(layer.moving_variance.shape, np.nan,
                                                 "float32"))
    recalibrate_batchnorm(model, iter(_batches(x)))
    got = _stats(model)
    for name in want:
        np.testing.assert_array_equal(got[name][0], want[name][0])
        np.testing.assert_array_equal(got[name][1], want[name][1])
    before = _stats(model)
    assert recalibrate_batchnorm(model, iter([])) == 0  # no batch: statistics untouched
    np.testing.assert_array_equal(_stats(model)["bn_after"][1], before["bn_after"][1])


def test_recalibration_keeps_no_model_alive():
    """The compiled pass is cached per model, and the cache must not hold the model."""
    import gc
    import weakref

    x, _ = _data(3)
    model = _model()
    recalibrate_batchnorm(model, iter(_batches(x)))
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None


def test_one_epoch_best_and_average_agree_and_throughput_is_measured(tmp_path, caplog):
    from galstar.training.data import ArraySource, Split
    from galstar.training.fit import train_model

    x, y = _data(3)
    table = pd.DataFrame({"object_id": np.arange(N), "split": "train"})
    train = Split({"image": ArraySource(x[:32])}, y[:32], table[:32], ("a", "b"))
    val = Split({"image": ArraySource(x[32:])}, y[32:], table[32:].reset_index(drop=True),
                ("a", "b"))
    exp = {"name": "tiny-bn", "epochs": 1, "batch_size": 8, "learning_rate": 1e-3,
           "loss": "mae", "scaler": "standard", "precise_bn": 16, "average_weights": True,
           "early_stopping": {"min_delta": 0.0, "patience": 5}}
    out = {k: tmp_path / n for k, n in [("model_path", "model.keras"),
                                        ("scaler_path", "scaler.json"),
                                        ("history_path", "history.csv"),
                                        ("config_path", "config.yaml")]}
    with caplog.at_level(logging.INFO, logger="galstar.training"):
        summary = train_model(lambda split: _model(), train, val, exp, seed=1, verbose=0,
                              **out)
    # one epoch: the best epoch and the average are the same weights
    assert summary["averaged_epochs"] == [1, 1]
    assert summary["val_mae_best_epoch"] == summary["val_mae_averaged"]
    rate = summary["train_images_per_s"]
    assert np.isfinite(rate) and rate > 1.0
    history = pd.read_csv(out["history_path"])
    assert (history["images_per_s"] > 0).all()
    final = [r.getMessage() for r in caplog.records if "images/s" in r.getMessage()]
    assert len(final) == 1
    shown = float(re.search(r"([0-9.e+]+) images/s", final[0]).group(1))
    assert shown == pytest.approx(rate, rel=5e-3)


def test_epoch_timer_times_training_steps_only():
    timer = EpochTimer()
    timer.set_model(type("M", (), {"optimizer": type("O", (), {"learning_rate": 0.1})()})())
    clock = iter([0.0, 1.0, 11.0, 11.0, 11.5, 11.5, 12.0, 30.0])  # batch 1 traces
    import galstar.training.callbacks as cb

    real = cb.time.perf_counter
    cb.time.perf_counter = lambda: next(clock)
    try:
        timer.on_epoch_begin(0)
        for _ in range(3):
            timer.on_train_batch_begin(0)
            timer.on_train_batch_end(0)
        timer.on_epoch_end(0)
    finally:
        cb.time.perf_counter = real
    assert timer.seconds == [30.0]  # the whole epoch, validation included
    assert timer.train_seconds == [11.0]  # the three training steps
    assert timer.steps == [3]
    assert timer.steady == [(2, 1.0)]  # steps after the first (tracing) one, their time
    assert timer.steady_rate(30) == pytest.approx(20.0)  # 2/3 of 30 objects in 1 s
