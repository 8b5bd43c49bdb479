"""Optimisers and learning-rate schedules by name (galstar.training.optimizers)."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from galstar.training.optimizers import OneCycle, build_optimizer  # noqa: E402


def test_one_cycle_follows_fastai_defaults():
    schedule = OneCycle(3e-2, total_steps=100)
    lr = np.array([float(keras.ops.convert_to_numpy(schedule(s))) for s in range(101)])
    assert lr[0] == pytest.approx(3e-2 / 25)
    assert lr.argmax() == 25 and lr.max() == pytest.approx(3e-2)
    assert lr[100] == pytest.approx(3e-2 / 25 / 1e5, rel=1e-3)
    assert np.all(np.diff(lr[:26]) > 0) and np.all(np.diff(lr[25:]) < 0)
    assert lr[62] == pytest.approx(0.5 * 3e-2, rel=0.05)  # cosine: half-way down at mid-decay


def test_build_optimizer():
    exp = {"name": "x", "learning_rate": 3e-3, "epochs": 4, "optimizer": "adamw",
           "weight_decay": 0.01, "lr_schedule": "one_cycle", "reduce_lr": False}
    opt = build_optimizer(exp, steps_per_epoch=10)
    assert isinstance(opt, keras.optimizers.AdamW) and opt.weight_decay == pytest.approx(0.01)
    assert isinstance(opt._learning_rate, OneCycle) and opt._learning_rate.total_steps == 40
    plain = build_optimizer({"learning_rate": 1e-3}, 5)
    assert type(plain) is keras.optimizers.Adam
    assert float(keras.ops.convert_to_numpy(plain.learning_rate)) == pytest.approx(1e-3)
    with pytest.raises(ValueError, match="reduce_lr"):
        build_optimizer({**exp, "reduce_lr": {"factor": 0.5}}, 10)
    with pytest.raises(ValueError, match="x.optimizer"):
        build_optimizer({**exp, "optimizer": "radam"}, 10)
